package main

import (
	"log/slog"

	"github.com/authd/authd/account"
	"github.com/authd/authd/config"
	"github.com/authd/authd/core"
	"github.com/authd/authd/storage"
)

// newAccounts builds the account service for a CLI command: the same rules,
// audit events and session ends as the API (core wires both), with audit
// lines on stderr. Running servers see the sessions it ends through their
// revocation poll.
func newAccounts(e env, cfg config.Config, db storage.Storage) (*account.Service, error) {
	hasher, err := newHasher(cfg)
	if err != nil {
		return nil, err
	}
	svc := core.New(core.Options{Config: cfg, Store: db, Hasher: hasher, Log: slog.New(slog.NewJSONHandler(e.stderr, nil))})
	return svc.Accounts, nil
}

// byCLI is the actor named in the audit events of CLI commands.
const byCLI = "cli"
