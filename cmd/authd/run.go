package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/postgres"
	"github.com/authd/authd/storage/sqlite"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `authd — OAuth 2.0 / OpenID Connect authorization server

Usage:
  authd <command> [flags]

Commands:
  serve                 migrate the database if needed and serve HTTP until SIGINT/SIGTERM
  migrate               apply pending database migrations and exit
  keys rotate [--alg]   rotate the signing key now
  keys list             list signing keys
  keys reseal           re-encrypt private keys under keys.encryption_key
  users add             create a user (--username, --email, --password-stdin)
  users set-password    set a user's password, ending their sessions
  users disable|enable  stop or allow a user's logins and refreshes
  users import          import users from a Django dumpdata file
  users list|show       list users (--q PREFIX) or show one (--username); --json for scripts
  users delete          erase a user with their sessions and tokens (--username, --yes)
  sessions list|end     list a user's sessions, or end one (--sid) or all (--all)
  clients add|list|show|remove|rotate-secret
                        manage the clients stored in the database
  backup FILE           copy the live database to FILE, consistent and verified
  db copy --to DST      copy the whole database into a new one (SQLite to PostgreSQL)
  version               print version and build information

Every command takes --config FILE (or AUTHD_CONFIG); without it authd runs on
built-in defaults. Only serve and migrate create a missing database. Run
"authd <command> --help" for a command's flags.
`

// env carries what a command may use of the outside world, so that tests
// run the whole program in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cmd    string // the command run: "serve", "users"…
}

// environ lists the process environment, KEY=VALUE, for the check that
// every AUTHD_ variable names a configuration key.
var environ = os.Environ

// notKeys are the AUTHD_ variables authd reads that are not configuration
// keys (AUTHD_CONFIG aside, which package config knows).
var notKeys = []string{
	"AUTHD_CPUPROFILE",              // serve: a CPU profile of the run, for cmd/authbench
	"AUTHD_KEYS_OLD_ENCRYPTION_KEY", // keys reseal: the key the private keys are sealed with now
}

// run is the whole program: main only calls it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) < 2 {
		// The usage, then main's one-line error last.
		fmt.Fprint(stderr, usage)
		return errors.New(`no command given (run "authd help" for the commands)`)
	}
	cmd, rest := args[1], args[2:]
	e.cmd = cmd
	switch cmd {
	case "serve":
		return cmdServe(ctx, e, rest)
	case "migrate":
		return cmdMigrate(ctx, e, rest)
	case "keys":
		return cmdKeys(ctx, e, rest)
	case "users":
		return cmdUsers(ctx, e, rest)
	case "sessions":
		return cmdSessions(ctx, e, rest)
	case "clients":
		return cmdClients(ctx, e, rest)
	case "backup":
		return cmdBackup(ctx, e, rest)
	case "db":
		return cmdDB(ctx, e, rest)
	case "version":
		return cmdVersion(e, rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlags makes a command's flag set with the common --config flag. Its
// usage text goes to stdout on --help.
func newFlags(e env, name, synopsis, help string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stdout)
	cfgPath := fs.String("config", "", "YAML configuration `file` (default: $AUTHD_CONFIG, else built-in defaults)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: authd %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(help))
		fs.PrintDefaults()
	}
	return fs, cfgPath
}

// parseOrHelp parses flags; on --help it prints the command's usage to
// stdout. done reports that the command should return err at once (nil after
// help, so --help exits 0).
func parseOrHelp(e env, fs *flag.FlagSet, args []string) (done bool, err error) {
	fs.SetOutput(io.Discard) // errors are returned, not printed twice
	// Flags may follow the arguments too ("users import FILE --format
	// django"): the flag package stops at the first argument, so parsing
	// resumes after each one, and the arguments are handed back at the end.
	var positional []string
	for rest := args; ; rest = fs.Args()[1:] {
		if err = fs.Parse(rest); err != nil || fs.NArg() == 0 {
			break
		}
		if i := len(rest) - fs.NArg() - 1; i >= 0 && rest[i] == "--" {
			positional = append(positional, fs.Args()...) // after "--", all are arguments
			break
		}
		positional = append(positional, fs.Arg(0))
	}
	if err == nil {
		err = fs.Parse(append([]string{"--"}, positional...))
	}
	fs.SetOutput(e.stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return true, nil
	case err != nil:
		return true, fmt.Errorf("%s: %w (see authd %s --help)", fs.Name(), err, fs.Name())
	}
	return false, nil
}

// loadConfig reads the configuration named by --config or AUTHD_CONFIG,
// and the AUTHD_ variables: every one must name a key (or be one of
// notKeys). Without a file it says so, in one line on stderr: a typo in a
// deployment's variable name must not go unnoticed as a run on defaults.
func loadConfig(e env, path string) (config.Config, error) {
	if path == "" {
		path = e.getenv(config.PathVar)
	}
	// The names of the variables set; their values are what getenv says
	// (in tests, getenv is not the process's).
	var vars []string
	for _, kv := range environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AUTHD_") && e.getenv(k) != "" {
			vars = append(vars, k)
		}
	}
	cfg, err := config.LoadVars(path, e.getenv, vars, notKeys...)
	if err == nil && path == "" {
		defaultsNote(e, cfg, len(vars) > 0)
	}
	return cfg, err
}

// defaultsNote says that no configuration file was given. serve writes it
// as a warning of its log, whose lines are JSON by default; the other
// commands as a plain line.
func defaultsNote(e env, cfg config.Config, withVars bool) {
	what := "built-in defaults"
	if withVars {
		what = "built-in defaults and AUTHD_ variables"
	}
	if e.cmd == "serve" {
		newLogger(e.stderr, cfg.Log).Warn("no --config or "+config.PathVar+": using "+what, "database", databaseName(cfg.Database))
		return
	}
	fmt.Fprintf(e.stderr, "authd: no --config or %s: using %s (database %s)\n", config.PathVar, what, databaseName(cfg.Database))
}

// errNoDatabase is the one line a command gives for a database that does
// not exist.
func errNoDatabase(path string) error {
	return fmt.Errorf(`database %s does not exist; run "authd migrate" or "authd serve" to create it`, path)
}

// errNoSchema is errNoDatabase for a PostgreSQL database that has no authd
// tables.
func errNoSchema(url string) error {
	return fmt.Errorf(`database %s has no authd tables; run "authd migrate" or "authd serve" to create them`, postgres.Redact(url))
}

// databaseName is the database key as logs and messages may show it:
// without the password of a PostgreSQL URL.
func databaseName(database string) string {
	if config.IsPostgresURL(database) {
		return postgres.Redact(database)
	}
	return database
}

// openStore opens an existing database and brings its schema up to date:
// for every command but serve and migrate, which create a missing one. A
// database that is not there (a missing SQLite file, a PostgreSQL
// database without authd's tables) is an error: a wrong path or URL must
// not leave an empty database behind. observeCommit (may be nil) receives
// every commit's duration.
func openStore(ctx context.Context, cfg config.Config, observeCommit ...func(time.Duration)) (storage.Storage, error) {
	var observe func(time.Duration)
	if len(observeCommit) > 0 {
		observe = observeCommit[0]
	}
	if config.IsPostgresURL(cfg.Database) {
		return openPostgres(ctx, cfg, cfg.Database, observe, false, nil)
	}
	return openAndMigrate(ctx, cfg, sqlite.Options{Synchronous: cfg.DatabaseSynchronous, MustExist: true, ObserveCommit: observe})
}

// createStore is openStore for serve: a missing database is created, with
// a warning in the log naming it, since a wrong path in the configuration
// would otherwise go unnoticed as a server with no users.
func createStore(ctx context.Context, cfg config.Config, log *slog.Logger, observeCommit func(time.Duration)) (storage.Storage, error) {
	if config.IsPostgresURL(cfg.Database) {
		return openPostgres(ctx, cfg, cfg.Database, observeCommit, true, log)
	}
	_, err := os.Stat(cfg.Database)
	isNew := errors.Is(err, fs.ErrNotExist)
	db, err := openAndMigrate(ctx, cfg, sqlite.Options{Synchronous: cfg.DatabaseSynchronous, ObserveCommit: observeCommit})
	if err != nil {
		return nil, err
	}
	if isNew {
		abs, _ := filepath.Abs(cfg.Database)
		log.Warn("database did not exist: created a new, empty one", "database", cfg.Database, "path", abs)
	}
	return db, nil
}

func openAndMigrate(ctx context.Context, cfg config.Config, opts sqlite.Options) (*sqlite.DB, error) {
	db, err := sqlite.Open(ctx, cfg.Database, opts)
	if opts.MustExist && errors.Is(err, fs.ErrNotExist) {
		return nil, errNoDatabase(cfg.Database)
	}
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// postgresOptions maps the database_pool keys to the PostgreSQL pool.
func postgresOptions(cfg config.Config, observeCommit func(time.Duration)) postgres.Options {
	lifetime := cfg.DatabasePool.ConnMaxLifetime
	if lifetime == 0 {
		lifetime = -1 // for ever, as the key says
	}
	return postgres.Options{
		MaxConns:        int32(min(cfg.DatabasePool.MaxOpenConns, math.MaxInt32)),
		MaxConnLifetime: lifetime,
		ObserveCommit:   observeCommit,
	}
}

// openPostgres opens the PostgreSQL database at url and brings its schema
// up to date. A database without authd's tables is refused (errNoSchema)
// unless create, which creates them, with a warning in log (if not nil).
func openPostgres(ctx context.Context, cfg config.Config, url string, observeCommit func(time.Duration), create bool, log *slog.Logger) (*postgres.DB, error) {
	db, err := postgres.Open(ctx, url, postgresOptions(cfg, observeCommit))
	if err != nil {
		return nil, err
	}
	v, err := db.SchemaVersion(ctx)
	if err == nil && v == 0 && !create {
		err = errNoSchema(url)
	}
	if err == nil {
		_, err = db.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if v == 0 && log != nil {
		log.Warn("database had no authd tables: created them", "database", postgres.Redact(url))
	}
	return db, nil
}

// auditEvent writes one audit event of a command (event=…, ids; never a
// secret) to stderr as a JSON line, like the server's audit lines.
func auditEvent(e env, event string, kv ...any) {
	slog.New(slog.NewJSONHandler(e.stderr, nil)).Info("audit", append([]any{"event", event}, kv...)...)
}

// newLogger builds the process logger from the log.* keys.
func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func cmdVersion(e env, args []string) error {
	fs, _ := newFlags(e, "version", "version", "Print the version and build information.")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	fmt.Fprintf(e.stdout, "authd %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(e.stdout, "go: %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
				fmt.Fprintf(e.stdout, "%s: %s\n", s.Key, s.Value)
			}
		}
	}
	return nil
}

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "migrate", "migrate [--config FILE]", "Apply pending schema migrations to the database and exit.")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	var db interface {
		Migrate(context.Context) (int, error)
		SchemaVersion(context.Context) (int, error)
		Close() error
	}
	if config.IsPostgresURL(cfg.Database) {
		db, err = postgres.Open(ctx, cfg.Database, postgresOptions(cfg, nil))
	} else {
		db, err = sqlite.Open(ctx, cfg.Database, sqlite.Options{Synchronous: cfg.DatabaseSynchronous})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s); schema version %d\n", n, v)
	return nil
}
