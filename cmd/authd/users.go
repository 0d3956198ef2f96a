package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/users"
)

func cmdUsers(ctx context.Context, e env, args []string) error {
	return dispatch(ctx, e, "users", "", []subcommand{
		{"add", cmdUsersAdd},
		{"set-password", cmdUsersSetPassword},
		{"disable", func(ctx context.Context, e env, args []string) error { return cmdUsersSetDisabled(ctx, e, args, true) }},
		{"enable", func(ctx context.Context, e env, args []string) error { return cmdUsersSetDisabled(ctx, e, args, false) }},
		{"import", cmdUsersImport},
		{"list", cmdUsersList},
		{"show", cmdUsersShow},
		{"delete", cmdUsersDelete},
	}, args)
}

// readPassword reads one line from stdin: the password, without its line
// ending. Passwords never travel as command-line arguments, which other
// users of the machine can read.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}

func cmdUsersAdd(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users add", "users add --username U [--email E] --password-stdin [--config FILE]",
		"Create a user, with the same rules as registration. The password is read from the first line of stdin.")
	username := fs.String("username", "", "the new user's `name` (required)")
	email := fs.String("email", "", "the user's email `address` (optional; stored as verified)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from stdin (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" || !*pwStdin {
		return errors.New("users add: --username and --password-stdin are required")
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return fmt.Errorf("users add: %w", err)
	}
	return withAccounts(ctx, e, *cfgPath, "users add", func(accounts *account.Service, db storage.Storage) error {
		u, err := accounts.Create(ctx, account.Registration{Username: *username, Email: *email, Password: pw}, byCLI)
		if err != nil {
			return err
		}
		if u.Email != "" {
			// An operator vouches for the address.
			if u, err = db.UpdateUser(ctx, u.ID, time.Now(), func(u *storage.User) error { u.EmailVerified = true; return nil }); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "created user %s (id %s, pk %d)\n", u.Username, u.ID, u.PK)
		return nil
	})
}

func cmdUsersSetPassword(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users set-password", "users set-password --username U --password-stdin [--config FILE]",
		"Set a user's password (read from the first line of stdin), with the same rules as the account API, and end all of the user's sessions.")
	username := fs.String("username", "", "the user's `name` (required)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from stdin (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" || !*pwStdin {
		return errors.New("users set-password: --username and --password-stdin are required")
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return fmt.Errorf("users set-password: %w", err)
	}
	return withAccounts(ctx, e, *cfgPath, "users set-password", func(accounts *account.Service, _ storage.Storage) error {
		u, err := accounts.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		if err := accounts.SetPassword(ctx, u, pw, byCLI); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password set for %s; every session ended\n", u.Username)
		return nil
	})
}

func cmdUsersSetDisabled(ctx context.Context, e env, args []string, disable bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disable]
	help := "Allow the user to log in and refresh again."
	if disable {
		help = "Stop the user from logging in or refreshing, and end all of the user's sessions."
	}
	fs, cfgPath := newFlags(e, "users "+verb, "users "+verb+" --username U [--config FILE]", help)
	username := fs.String("username", "", "the user's `name` (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" {
		return fmt.Errorf("users %s: --username is required", verb)
	}
	return withAccounts(ctx, e, *cfgPath, "users "+verb, func(accounts *account.Service, _ storage.Storage) error {
		u, err := accounts.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		if err := accounts.SetDisabled(ctx, u, disable, byCLI); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s %sd\n", u.Username, verb)
		return nil
	})
}

// withAccounts loads the configuration, opens the database and runs fn with
// the account service; fn's error is worded for the command line.
func withAccounts(ctx context.Context, e env, cfgPath, cmd string, fn func(*account.Service, storage.Storage) error) error {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := newAccounts(e, cfg, db)
	if err != nil {
		return err
	}
	if err := fn(accounts, db); err != nil {
		return fmt.Errorf("%s: %s", cmd, cliMessage(err))
	}
	return nil
}

// cliMessage words a service error for the command line: each field
// problem as the account API states it, after the flag or input it is about
// ("password: is too common"), or the description.
func cliMessage(err error) string {
	e, ok := errs.As(err)
	if !ok {
		return err.Error()
	}
	if len(e.Fields) == 0 {
		return e.Description
	}
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		name := k
		if k == "username" || k == "email" {
			name = "--" + k
		}
		parts[i] = name + ": " + e.Fields[k]
	}
	return strings.Join(parts, "; ")
}

func cmdUsersImport(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users import", "users import --format django [--config FILE] FILE", `
Import users from FILE, the output of Django's
"python manage.py dumpdata auth.user". Password hashes are kept
(pbkdf2_sha256, bcrypt, argon2) and upgraded to argon2id at each user's next
login, and so are Django's pks. Usernames that already exist are skipped and
listed. The import is atomic: a bad record, two records that authd cannot
tell apart (usernames differing only in case, a shared email, a shared pk),
or an email or pk that another user already holds aborts it, naming the
records, and nothing is written.`)
	format := fs.String("format", "", "input `format`: django (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *format != "django" {
		return fmt.Errorf("users import: --format must be django, got %q", *format)
	}
	if fs.NArg() != 1 {
		return errors.New("users import: want exactly one FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	defer f.Close()
	prog := newProgress(e.stdout)
	defer prog.clear()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	recs, err := users.ParseDjangoDump(prog.reader(f, size, "reading "+fs.Arg(0)))
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	return withAccounts(ctx, e, *cfgPath, "users import", func(accounts *account.Service, _ storage.Storage) error {
		prog.show(fmt.Sprintf("%d record(s) read; importing them in one transaction…", len(recs)))
		n, skipped, err := accounts.ImportDjango(ctx, recs, byCLI)
		if err != nil {
			return err
		}
		summary := fmt.Sprintf("imported %d user(s)", n)
		if len(skipped) > 0 {
			summary += fmt.Sprintf("; skipped %d existing: %s", len(skipped), strings.Join(skipped, ", "))
		}
		prog.done(summary)
		return nil
	})
}
