package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
)

const sessionCols = `id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at, ended_at, user_agent, address`

// scanSession reads one row of sessionCols.
func scanSession(row rowScanner) (storage.Session, error) {
	var s storage.Session
	err := row.Scan(&s.ID, &s.UserID, &s.ClientID, &s.Scope, timeCol{&s.AuthTime}, timeCol{&s.CreatedAt},
		timeCol{&s.LastUsedAt}, timeCol{&s.ExpiresAt}, timeCol{&s.EndedAt}, &s.UserAgent, &s.Address)
	return s, err
}

// insertSession inserts s; ErrAlreadyExists when its id is taken.
func insertSession(ctx context.Context, tx pgx.Tx, s storage.Session) error {
	_, err := tx.Exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.ID, s.UserID, s.ClientID, s.Scope, timeArg(s.AuthTime), timeArg(s.CreatedAt),
		timeArg(s.LastUsedAt), timeArg(s.ExpiresAt), timeArg(s.EndedAt), s.UserAgent, s.Address)
	return mapErr(err)
}

// CreateSession implements storage.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s storage.Session, first *storage.RefreshToken) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		if err := insertSession(ctx, tx, s); err != nil {
			return err
		}
		if first == nil {
			return nil
		}
		return insertRefreshToken(ctx, tx, *first)
	})
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// GetSession implements storage.SessionStore.
func (db *DB) GetSession(ctx context.Context, id string) (storage.Session, error) {
	s, err := scanSession(db.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return storage.Session{}, fmt.Errorf("postgres: get session: %w", notFound(err))
	}
	return s, nil
}

// ListSessions implements storage.SessionStore.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = $1 AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY created_at DESC, id DESC`, userID, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	ss, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Session, error) { return scanSession(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	return ss, nil
}

// endSession ends the session (keeping the first EndedAt of an ended one)
// and deletes its refresh tokens; storage.ErrNotFound for an unknown id.
func endSession(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE sessions SET ended_at = coalesce(ended_at, $1) WHERE id = $2`,
		timeArg(now), id)
	if err != nil {
		return err
	}
	if err := oneRow(tag); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE session_id = $1`, id)
	return err
}

// EndSession implements storage.SessionStore.
func (db *DB) EndSession(ctx context.Context, id string, now time.Time) error {
	if err := requireTime("now", now); err != nil {
		return fmt.Errorf("postgres: end session: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error { return endSession(ctx, tx, id, now) })
	if err != nil {
		return fmt.Errorf("postgres: end session: %w", err)
	}
	return nil
}

// EndUserSessions implements storage.SessionStore.
func (db *DB) EndUserSessions(ctx context.Context, userID, keep string, now time.Time) ([]string, error) {
	if err := requireTime("now", now); err != nil {
		return nil, fmt.Errorf("postgres: end user sessions: %w", err)
	}
	var ended []string
	err := db.write(ctx, func(tx pgx.Tx) error {
		var err error
		ended, err = endUserSessions(ctx, tx, userID, keep, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: end user sessions: %w", err)
	}
	return ended, nil
}

// EndedSessions implements storage.SessionStore.
func (db *DB) EndedSessions(ctx context.Context, since time.Time) ([]storage.EndedSession, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, ended_at FROM sessions
		WHERE ended_at > $1 ORDER BY ended_at, id`, nanos(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: ended sessions: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.EndedSession, error) {
		var e storage.EndedSession
		err := row.Scan(&e.ID, timeCol{&e.EndedAt})
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: ended sessions: %w", err)
	}
	return es, nil
}
