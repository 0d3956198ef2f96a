package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/authd/authd/account"
	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/storage"
)

func cmdUsersList(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users list", "users list [--q PREFIX] [--json] [--config FILE]",
		"List users in the order they were created (by pk): a table, or JSON with --json.")
	q := fs.String("q", "", "keep users whose username or email starts with `PREFIX` (ignoring case)")
	asJSON := fs.Bool("json", false, "print JSON (an array of users) instead of a table")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	return withAccounts(ctx, e, *cfgPath, "users list", func(accounts *account.Service, _ storage.Storage) error {
		var all []storage.User
		cursor := ""
		for {
			page, err := accounts.ListUsers(ctx, *q, cursor, account.MaxPageSize)
			if err != nil {
				return err
			}
			all = append(all, page.Users...)
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if *asJSON {
			out := make([]admin.UserJSON, 0, len(all))
			for _, u := range all {
				out = append(out, admin.ToUserJSON(u))
			}
			return writeJSON(e.stdout, out)
		}
		rows := make([][]string, 0, len(all))
		for _, u := range all {
			rows = append(rows, []string{u.Username, strconv.FormatInt(u.PK, 10), u.Email, yesNo(u.EmailVerified), yesNo(u.Disabled), when(u.CreatedAt), u.ID})
		}
		return table(e.stdout, []string{"USERNAME", "PK", "EMAIL", "VERIFIED", "DISABLED", "CREATED", "ID"}, rows)
	})
}

func cmdUsersShow(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users show", "users show --username U [--json] [--config FILE]",
		"Show a user's account and how many live sessions they have.")
	username := fs.String("username", "", "the user's `name` (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a list of fields")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" {
		return errors.New("users show: --username is required")
	}
	return withAccounts(ctx, e, *cfgPath, "users show", func(accounts *account.Service, _ storage.Storage) error {
		u, err := accounts.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		sessions, err := accounts.ListSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, struct {
				admin.UserJSON
				LiveSessions int `json:"live_sessions"`
			}{admin.ToUserJSON(u), len(sessions)})
		}
		password := "set"
		if u.PasswordHash == "" {
			password = "none (sign-in by password impossible)"
		}
		return fields(e.stdout, [][2]string{
			{"Username", u.Username}, {"ID", u.ID}, {"PK", strconv.FormatInt(u.PK, 10)},
			{"Email", u.Email}, {"Email verified", yesNo(u.EmailVerified)},
			{"First name", u.FirstName}, {"Last name", u.LastName},
			{"Disabled", yesNo(u.Disabled)}, {"Password", password},
			{"Created", when(u.CreatedAt)}, {"Updated", when(u.UpdatedAt)},
			{"Live sessions", strconv.Itoa(len(sessions))},
		})
	})
}

func cmdUsersDelete(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users delete", "users delete --username U [--yes] [--config FILE]", `
Delete a user for good: the account, its sessions, refresh tokens,
authorization codes and one-time tokens, in one transaction. Without --yes
the command asks on a terminal, and refuses elsewhere.`)
	username := fs.String("username", "", "the user's `name` (required)")
	yes := fs.Bool("yes", false, "delete without asking")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" {
		return errors.New("users delete: --username is required")
	}
	return withAccounts(ctx, e, *cfgPath, "users delete", func(accounts *account.Service, _ storage.Storage) error {
		u, err := accounts.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		if !*yes {
			if !isTerminal(e.stdin) {
				return fmt.Errorf("not deleting %s without --yes", u.Username)
			}
			fmt.Fprintf(e.stdout, "Delete user %s (id %s, pk %d) with all their sessions? This cannot be undone. [y/N] ", u.Username, u.ID, u.PK)
			answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
				return fmt.Errorf("not deleted")
			}
		}
		if err := accounts.Delete(ctx, u, byCLI); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted user %s (id %s)\n", u.Username, u.ID)
		return nil
	})
}
