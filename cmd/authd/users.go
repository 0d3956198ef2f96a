package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/users"
)

func cmdUsers(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New("users: want a subcommand: add, set-password, disable, enable, import")
	}
	switch args[0] {
	case "add":
		return cmdUsersAdd(ctx, e, args[1:])
	case "set-password":
		return cmdUsersSetPassword(ctx, e, args[1:])
	case "disable":
		return cmdUsersSetDisabled(ctx, e, args[1:], true)
	case "enable":
		return cmdUsersSetDisabled(ctx, e, args[1:], false)
	case "import":
		return cmdUsersImport(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, "Usage: authd users add|set-password|disable|enable|import [flags]\n\nRun \"authd users <subcommand> --help\" for its flags.\n")
		return nil
	default:
		return fmt.Errorf("users: unknown subcommand %q (want add, set-password, disable, enable, import)", args[0])
	}
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
		"Create a user. The password is read from the first line of stdin.")
	username := fs.String("username", "", "the new user's `name` (required)")
	email := fs.String("email", "", "the user's email `address` (optional; stored as verified)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from stdin (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *username == "" || !*pwStdin {
		return errors.New("users add: --username and --password-stdin are required")
	}
	name, err := users.NormalizeUsername(*username)
	if err != nil {
		return fmt.Errorf("users add: --username: %w", err)
	}
	addr, err := users.NormalizeEmail(*email)
	if err != nil {
		return fmt.Errorf("users add: --email: %w", err)
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return fmt.Errorf("users add: %w", err)
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	hasher, err := newHasher(cfg)
	if err != nil {
		return err
	}
	if err := hasher.CheckLength(pw); err != nil {
		return fmt.Errorf("users add: password: %w", err)
	}
	hash, err := hasher.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("users add: %w", err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	u := storage.User{
		ID:            users.NewID(),
		Username:      name,
		Email:         addr,
		EmailVerified: addr != "", // an operator vouches for the address
		PasswordHash:  hash,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := db.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fmt.Errorf("users add: username or email already taken")
		}
		return fmt.Errorf("users add: %w", err)
	}
	audit(e, "user.created", "user_id", u.ID, "by", "cli")
	fmt.Fprintf(e.stdout, "created user %s (id %s)\n", u.Username, u.ID)
	return nil
}

func cmdUsersSetPassword(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "users set-password", "users set-password --username U --password-stdin [--config FILE]",
		"Set a user's password (read from the first line of stdin) and end all of the user's sessions.")
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
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	hasher, err := newHasher(cfg)
	if err != nil {
		return err
	}
	if err := hasher.CheckLength(pw); err != nil {
		return fmt.Errorf("users set-password: password: %w", err)
	}
	hash, err := hasher.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("users set-password: %w", err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := findUser(ctx, db, *username)
	if err != nil {
		return fmt.Errorf("users set-password: %w", err)
	}
	ended, err := db.SetPassword(ctx, u.ID, hash, "", time.Now())
	if err != nil {
		return fmt.Errorf("users set-password: %w", err)
	}
	audit(e, "password.changed", "user_id", u.ID, "sessions_ended", len(ended), "by", "cli")
	fmt.Fprintf(e.stdout, "password set for %s; %d session(s) ended\n", u.Username, len(ended))
	return nil
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
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := findUser(ctx, db, *username)
	if err != nil {
		return fmt.Errorf("users %s: %w", verb, err)
	}
	ended, err := db.SetDisabled(ctx, u.ID, disable, time.Now())
	if err != nil {
		return fmt.Errorf("users %s: %w", verb, err)
	}
	audit(e, "user."+verb+"d", "user_id", u.ID, "sessions_ended", len(ended), "by", "cli")
	fmt.Fprintf(e.stdout, "user %s %sd; %d session(s) ended\n", u.Username, verb, len(ended))
	return nil
}

func findUser(ctx context.Context, db storage.UserStore, username string) (storage.User, error) {
	u, err := db.GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, fmt.Errorf("no user named %q", username)
	}
	return u, err
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
	recs, err := users.ParseDjangoDump(f)
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := users.ImportDjango(ctx, db, recs, time.Now())
	if err != nil {
		return fmt.Errorf("users import: nothing imported: %w", err)
	}
	skipped := res.Skipped
	fmt.Fprintf(e.stdout, "imported %d user(s)", res.Imported)
	if len(skipped) > 0 {
		fmt.Fprintf(e.stdout, "; skipped %d existing: %s", len(skipped), strings.Join(skipped, ", "))
	}
	fmt.Fprintln(e.stdout)
	return nil
}
