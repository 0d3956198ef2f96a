package main

import (
	"log/slog"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
)

// newAccounts builds the account service for a CLI command: the same rules,
// audit events and session ends as the API, with audit lines on stderr.
// Running servers see the sessions it ends through their revocation poll.
func newAccounts(e env, cfg config.Config, db storage.Storage) (*account.Service, error) {
	hasher, err := newHasher(cfg)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	al := audit.New(log)
	view := token.NewView(cfg.Tokens.AccessTTL, keys.DefaultSkew)
	return account.New(account.Options{
		Store:             db,
		Hasher:            hasher,
		Sessions:          session.New(db, view, al, time.Now),
		Limits:            throttle.NewLimits(cfg.Throttle),
		Audit:             al,
		Log:               log,
		Issuer:            cfg.Issuer,
		ResetMailsPerHour: cfg.Throttle.ResetMailsPerHour,
	}), nil
}

// byCLI is the actor named in the audit events of CLI commands.
const byCLI = "cli"
