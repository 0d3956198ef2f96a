package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

var _ storage.LimitStore = (*DB)(nil)

// LimitAttempt implements storage.LimitStore. The key's row is read FOR
// UPDATE, so attempts on one key from any instance run one after another
// from the read to the commit; a key without a row gets one by an insert
// that a racer's insert turns into nothing, and the loop then reads (and
// locks) the racer's row.
func (db *DB) LimitAttempt(ctx context.Context, key string, now time.Time, p storage.FailurePolicy) (time.Duration, error) {
	if err := errors.Join(storage.CheckLimitKey(key), p.Check(), requireTime("now", now)); err != nil {
		return 0, fmt.Errorf("postgres: limit attempt: %w", err)
	}
	var wait time.Duration
	err := db.write(ctx, func(tx pgx.Tx) error {
		wait = 0
		for range 2 {
			var failures int
			var last, locked time.Time
			err := tx.QueryRow(ctx, `SELECT failures, last_failure, locked_until FROM limit_failures WHERE key = $1 FOR UPDATE`, key).
				Scan(&failures, sqlcol.Time(&last), sqlcol.Time(&locked))
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				failures, locked = p.Fail(0, time.Time{}, now)
				tag, err := tx.Exec(ctx, `INSERT INTO limit_failures (key, failures, last_failure, locked_until, expires_at)
					VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING`,
					key, failures, sqlcol.Nanos(now), sqlcol.TimeArg(locked), sqlcol.Nanos(p.Expiry(now, locked)))
				if err != nil || tag.RowsAffected() == 1 {
					return err
				}
				continue // another attempt inserted the row first
			case err != nil:
				return err
			case locked.After(now):
				wait = locked.Sub(now)
				return nil
			}
			failures, locked = p.Fail(failures, last, now)
			_, err = tx.Exec(ctx, `UPDATE limit_failures SET failures = $2, last_failure = $3, locked_until = $4, expires_at = $5
				WHERE key = $1`, key, failures, sqlcol.Nanos(now), sqlcol.TimeArg(locked), sqlcol.Nanos(p.Expiry(now, locked)))
			return err
		}
		return errors.New("the row of the key vanished twice")
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: limit attempt: %w", err)
	}
	return wait, nil
}

// LimitCount implements storage.LimitStore. A row counts until its
// expires_at: the end of its wait, or Reset after its last failure.
func (db *DB) LimitCount(ctx context.Context, key string, now time.Time) (int, time.Duration, error) {
	var failures int
	var locked time.Time
	err := db.pool.QueryRow(ctx, `SELECT failures, locked_until FROM limit_failures WHERE key = $1 AND expires_at > $2`,
		key, sqlcol.Nanos(now)).Scan(&failures, sqlcol.Time(&locked))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("postgres: limit count: %w", err)
	}
	return failures, max(locked.Sub(now), 0), nil
}

// LimitClear implements storage.LimitStore.
func (db *DB) LimitClear(ctx context.Context, key string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM limit_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: limit clear: %w", err)
	}
	return nil
}

// limitAllowSQL starts a new window when the key has none or its window
// has ended, and otherwise counts the event only while the window has
// room. A racer's insert makes this one wait for the racer's row and
// evaluate the update on it; when the window has no room the update does
// not apply and no row comes back.
const limitAllowSQL = `INSERT INTO limit_windows AS w (key, started_at, events, expires_at) VALUES ($1, $2, 1, $3)
	ON CONFLICT (key) DO UPDATE SET
		started_at = CASE WHEN w.expires_at <= $2 THEN $2 ELSE w.started_at END,
		events     = CASE WHEN w.expires_at <= $2 THEN 1 ELSE w.events + 1 END,
		expires_at = CASE WHEN w.expires_at <= $2 THEN $3 ELSE w.expires_at END
	WHERE w.expires_at <= $2 OR w.events < $4
	RETURNING events`

// LimitAllow implements storage.LimitStore.
func (db *DB) LimitAllow(ctx context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	if err := errors.Join(storage.CheckLimitKey(key), storage.CheckWindow(n, window), requireTime("now", now)); err != nil {
		return false, 0, fmt.Errorf("postgres: limit allow: %w", err)
	}
	var ok bool
	var wait time.Duration
	err := db.write(ctx, func(tx pgx.Tx) error {
		ok, wait = false, 0
		var events int64
		err := tx.QueryRow(ctx, limitAllowSQL, key, sqlcol.Nanos(now), sqlcol.Nanos(now.Add(window)), int64(n)).Scan(&events)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var end time.Time
		if err := tx.QueryRow(ctx, `SELECT expires_at FROM limit_windows WHERE key = $1`, key).Scan(sqlcol.Time(&end)); err != nil {
			return err
		}
		wait = end.Sub(now)
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("postgres: limit allow: %w", err)
	}
	return ok, wait, nil
}
