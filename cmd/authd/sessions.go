package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/storage"
)

func cmdSessions(ctx context.Context, e env, args []string) error {
	return dispatch(ctx, e, "sessions", "", []subcommand{
		{"list", cmdSessionsList},
		{"end", cmdSessionsEnd},
	}, args)
}

// sessionJSON is a session as `sessions list --json` prints it: no token
// material.
type sessionJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	Scope      string    `json:"scope"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	AuthTime   time.Time `json:"auth_time"`
	ExpiresAt  time.Time `json:"expires_at"`
	Address    string    `json:"address"`
	UserAgent  string    `json:"user_agent"`
}

func cmdSessionsList(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "sessions list", "sessions list --username U [--json] [--config FILE]",
		"List a user's live sessions, newest first: the client, when it started and was last used, the address and the user agent.")
	username := fs.String("username", "", "the user's `name` (required)")
	asJSON := fs.Bool("json", false, "print JSON (an array of sessions) instead of a table")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" {
		return errors.New("sessions list: --username is required")
	}
	return withAccounts(ctx, e, *cfgPath, "sessions list", func(accounts *account.Service, _ storage.Storage) error {
		u, err := accounts.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		list, err := accounts.ListSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]sessionJSON, 0, len(list))
			for _, s := range list {
				out = append(out, sessionJSON{
					ID: s.ID, ClientID: s.ClientID, Scope: s.Scope, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
					AuthTime: s.AuthTime.UTC(), ExpiresAt: s.ExpiresAt.UTC(), Address: s.Address, UserAgent: s.UserAgent,
				})
			}
			return writeJSON(e.stdout, out)
		}
		rows := make([][]string, 0, len(list))
		for _, s := range list {
			rows = append(rows, []string{s.ID, s.ClientID, when(s.CreatedAt), when(s.LastUsedAt), s.Address, s.UserAgent})
		}
		return table(e.stdout, []string{"ID", "CLIENT", "CREATED", "LAST USED", "ADDRESS", "USER AGENT"}, rows)
	})
}

func cmdSessionsEnd(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "sessions end", "sessions end --username U (--sid ID | --all) [--config FILE]", `
End one session of a user (--sid, an id from "authd sessions list") or all
of them (--all): their refresh tokens stop working at once, and running
servers refuse their access tokens within a second.`)
	username := fs.String("username", "", "the user's `name` (required)")
	sid := fs.String("sid", "", "the session `id` to end")
	all := fs.Bool("all", false, "end every session of the user")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" || (*sid == "") == !*all {
		return errors.New("sessions end: want --username and exactly one of --sid or --all")
	}
	return withAccounts(ctx, e, *cfgPath, "sessions end", func(accounts *account.Service, _ storage.Storage) error {
		u, err := accounts.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		if *all {
			n, err := accounts.AdminEndSessions(ctx, u.ID, byCLI)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "ended %d session(s) of %s\n", n, u.Username)
			return nil
		}
		if err := accounts.AdminEndSession(ctx, u.ID, *sid, byCLI); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "ended session %s of %s\n", *sid, u.Username)
		return nil
	})
}
