package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/postgres"
	"github.com/authd/authd/storage/sqlite"
)

const dbUsage = `Usage: authd db <command> [flags]

Commands:
  copy --to DST [--from SRC]   copy a whole database into a new, empty one

Run "authd db copy --help" for its flags.
`

func cmdDB(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, dbUsage)
		return errors.New("db: no command given")
	}
	switch args[0] {
	case "copy":
		return cmdDBCopy(ctx, e, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, dbUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, dbUsage)
		return fmt.Errorf("db: unknown command %q", args[0])
	}
}

// copyDB is a database of either backend as db copy uses it.
type copyDB interface {
	storage.Dumper
	storage.Loader
	Close() error
}

func cmdDBCopy(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "db copy", "db copy [--config FILE] [--from SRC] --to DST", `
Copy every row of the database SRC into DST: users with their password
hashes and pks, sessions and their refresh tokens (a chain in the middle
of its rotations goes on from where it was), signing keys as they are
stored (sealed or not: keep keys.encryption_key), pending authorization
codes, one-time tokens and revoked access tokens. SRC and DST are each a
SQLite file path or a postgres:// URL, so this moves a SQLite database
to PostgreSQL (or back).

SRC (default: the configured database) must exist and must not be
written during the copy: stop the servers first. The copy reads one
snapshot of SRC, so it is consistent anyway, but what servers commit
after it starts is not in DST. DST is created if it is a missing SQLite
file; a PostgreSQL database must exist (CREATE DATABASE) and is given
authd's tables. DST must hold no rows: a copy never merges. Everything is
written in one transaction, checked (row counts per table, source against
destination) before it commits, so DST ends up with all of SRC or
nothing. SRC is never written.

Then point the database key (or AUTHD_DATABASE) at DST and start the
servers.`)
	from := fs.String("from", "", "source `database`: SQLite file or postgres:// URL (default: the configured database)")
	to := fs.String("to", "", "destination `database`: SQLite file or postgres:// URL, empty")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("db copy: unexpected argument %q (see authd db copy --help)", fs.Arg(0))
	}
	if *to == "" {
		return errors.New("db copy: --to is required (see authd db copy --help)")
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if *from == "" {
		*from = cfg.Database
	}
	for _, d := range []struct{ flag, value string }{{"--from", *from}, {"--to", *to}} {
		probe := cfg
		probe.Database = d.value
		for _, p := range probe.Validate() {
			if strings.HasPrefix(p, "database: ") {
				return fmt.Errorf("db copy: %s %s", d.flag, strings.TrimPrefix(p, "database: "))
			}
		}
	}
	if sameDatabase(*from, *to) {
		return errors.New("db copy: --from and --to name the same database")
	}

	src, err := openCopyDB(ctx, cfg, *from, false)
	if err != nil {
		return fmt.Errorf("db copy: source: %w", err)
	}
	defer src.Close()
	// A SQLite destination that the copy creates is removed again if the
	// copy fails, rather than left behind empty.
	var created string
	if !config.IsPostgresURL(*to) {
		if _, err := os.Stat(*to); errors.Is(err, os.ErrNotExist) {
			created = *to
		}
	}
	dst, err := openCopyDB(ctx, cfg, *to, true)
	if err != nil {
		removeCreated(created)
		return fmt.Errorf("db copy: destination: %w", err)
	}
	defer dst.Close()

	p := newCopyProgress(e.stderr)
	start := time.Now()
	counts, err := storage.Copy(ctx, src, dst, p.update)
	p.done()
	if err != nil {
		dst.Close()
		removeCreated(created)
		if errors.Is(err, storage.ErrNotEmpty) {
			return fmt.Errorf("db copy: the destination %s is not empty (%w); copy into a new database", databaseName(*to), err)
		}
		return fmt.Errorf("db copy: %w (nothing was written to %s)", err, databaseName(*to))
	}
	parts := make([]string, len(counts))
	var total int64
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s=%d", c.Table, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(e.stdout, "copied %s to %s in %s: %s (row counts checked)\n",
		databaseName(*from), databaseName(*to), time.Since(start).Round(time.Millisecond), strings.Join(parts, " "))
	auditEvent(e, "database.copied", "from", databaseName(*from), "to", databaseName(*to), "rows", total)
	return nil
}

// removeCreated removes a SQLite database file that db copy created, with
// its -wal and -shm files; "" removes nothing.
func removeCreated(path string) {
	if path == "" {
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
}

// sameDatabase reports whether a and b obviously name one database: the
// same URL, or the same file.
func sameDatabase(a, b string) bool {
	if config.IsPostgresURL(a) || config.IsPostgresURL(b) {
		return a == b
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if aa == bb {
		return true
	}
	fa, err1 := os.Stat(aa)
	fb, err2 := os.Stat(bb)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// openCopyDB opens a database for db copy. The source must exist and is
// neither created nor migrated; the destination is created (a SQLite
// file) and migrated (both backends).
func openCopyDB(ctx context.Context, cfg config.Config, database string, dest bool) (copyDB, error) {
	if config.IsPostgresURL(database) {
		if dest {
			return openPostgres(ctx, cfg, database, nil, true, nil)
		}
		db, err := openPostgresSource(ctx, cfg, database)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, database, sqlite.Options{Synchronous: cfg.DatabaseSynchronous, MustExist: !dest})
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("database %s does not exist", database)
	}
	if err != nil {
		return nil, err
	}
	if dest {
		if _, err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// openPostgresSource opens a PostgreSQL source without touching its
// schema: one without authd's tables is refused.
func openPostgresSource(ctx context.Context, cfg config.Config, url string) (copyDB, error) {
	db, err := postgres.Open(ctx, url, postgresOptions(cfg, nil))
	if err != nil {
		return nil, err
	}
	v, err := db.SchemaVersion(ctx)
	if err == nil && v == 0 {
		err = errNoSchema(url)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// copyProgress shows, on a terminal, the table being copied and how far
// along it is, at most ten times a second; elsewhere (a log, a pipe) it
// writes nothing, and the summary line says it all.
type copyProgress struct {
	w    io.Writer // nil when not a terminal
	mu   sync.Mutex
	last time.Time
	line int // length of the line shown, to blank it
}

func newCopyProgress(w io.Writer) *copyProgress {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return &copyProgress{w: w}
		}
	}
	return &copyProgress{}
}

func (p *copyProgress) update(table string, done, total int64) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	line := fmt.Sprintf("copying %s: %d/%d rows", table, done, total)
	fmt.Fprintf(p.w, "\r%-*s", p.line, line)
	p.line = len(line)
}

// done ends the progress line.
func (p *copyProgress) done() {
	if p.w != nil && p.line > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.line, "")
	}
}
