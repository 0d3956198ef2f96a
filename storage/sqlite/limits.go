package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

var _ storage.LimitStore = (*DB)(nil)

// LimitAttempt implements storage.LimitStore. The read and the write run
// in one write transaction, which SQLite runs one at a time (from any
// process), so no other attempt slips in between.
func (db *DB) LimitAttempt(ctx context.Context, key string, now time.Time, p storage.FailurePolicy) (time.Duration, error) {
	if err := errors.Join(storage.CheckLimitKey(key), p.Check(), requireTime("now", now)); err != nil {
		return 0, fmt.Errorf("sqlite: limit attempt: %w", err)
	}
	var wait time.Duration
	err := db.write(ctx, func(tx *sql.Tx) error {
		wait = 0
		var failures int
		var last, locked time.Time
		err := tx.QueryRowContext(ctx, `SELECT failures, last_failure, locked_until FROM limit_failures WHERE key = ?`, key).
			Scan(&failures, sqlcol.Time(&last), sqlcol.Time(&locked))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			failures, last = 0, time.Time{}
		case err != nil:
			return err
		case locked.After(now):
			wait = locked.Sub(now)
			return nil
		}
		failures, locked = p.Fail(failures, last, now)
		_, err = tx.ExecContext(ctx, `INSERT INTO limit_failures (key, failures, last_failure, locked_until, expires_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure,
				locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
			key, failures, sqlcol.Nanos(now), sqlcol.TimeArg(locked), sqlcol.Nanos(p.Expiry(now, locked)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: limit attempt: %w", err)
	}
	return wait, nil
}

// LimitCount implements storage.LimitStore. A row counts until its
// expires_at: the end of its wait, or Reset after its last failure.
func (db *DB) LimitCount(ctx context.Context, key string, now time.Time) (int, time.Duration, error) {
	var failures int
	var locked time.Time
	err := db.r.QueryRowContext(ctx, `SELECT failures, locked_until FROM limit_failures WHERE key = ? AND expires_at > ?`,
		key, sqlcol.Nanos(now)).Scan(&failures, sqlcol.Time(&locked))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("sqlite: limit count: %w", err)
	}
	return failures, max(locked.Sub(now), 0), nil
}

// LimitClear implements storage.LimitStore.
func (db *DB) LimitClear(ctx context.Context, key string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM limit_failures WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: limit clear: %w", err)
	}
	return nil
}

// limitAllowSQL starts a new window when the key has none or its window
// has ended, and otherwise counts the event only while the window has
// room: when it has none, the update does not apply and no row comes back.
const limitAllowSQL = `INSERT INTO limit_windows AS w (key, started_at, events, expires_at) VALUES (?1, ?2, 1, ?3)
	ON CONFLICT (key) DO UPDATE SET
		started_at = CASE WHEN w.expires_at <= ?2 THEN ?2 ELSE w.started_at END,
		events     = CASE WHEN w.expires_at <= ?2 THEN 1 ELSE w.events + 1 END,
		expires_at = CASE WHEN w.expires_at <= ?2 THEN ?3 ELSE w.expires_at END
	WHERE w.expires_at <= ?2 OR w.events < ?4
	RETURNING events`

// LimitAllow implements storage.LimitStore.
func (db *DB) LimitAllow(ctx context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	if err := errors.Join(storage.CheckLimitKey(key), storage.CheckWindow(n, window), requireTime("now", now)); err != nil {
		return false, 0, fmt.Errorf("sqlite: limit allow: %w", err)
	}
	var ok bool
	var wait time.Duration
	err := db.write(ctx, func(tx *sql.Tx) error {
		ok, wait = false, 0
		var events int
		err := tx.QueryRowContext(ctx, limitAllowSQL, key, sqlcol.Nanos(now), sqlcol.Nanos(now.Add(window)), n).Scan(&events)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var end time.Time
		if err := tx.QueryRowContext(ctx, `SELECT expires_at FROM limit_windows WHERE key = ?`, key).Scan(sqlcol.Time(&end)); err != nil {
			return err
		}
		wait = end.Sub(now)
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("sqlite: limit allow: %w", err)
	}
	return ok, wait, nil
}
