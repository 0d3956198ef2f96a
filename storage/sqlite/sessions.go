package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

const sessionCols = `id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at, ended_at, user_agent, address`

// scanSession reads one row of sessionCols.
func scanSession(row interface{ Scan(...any) error }) (storage.Session, error) {
	var s storage.Session
	err := row.Scan(&s.ID, &s.UserID, &s.ClientID, &s.Scope, timeCol{&s.AuthTime}, timeCol{&s.CreatedAt},
		timeCol{&s.LastUsedAt}, timeCol{&s.ExpiresAt}, timeCol{&s.EndedAt}, &s.UserAgent, &s.Address)
	return s, err
}

// CreateSession implements storage.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s storage.Session, first *storage.RefreshToken) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.UserID, s.ClientID, s.Scope, timeArg(s.AuthTime), timeArg(s.CreatedAt),
			timeArg(s.LastUsedAt), timeArg(s.ExpiresAt), timeArg(s.EndedAt), s.UserAgent, s.Address)
		if err != nil {
			return mapErr(err)
		}
		if first == nil {
			return nil
		}
		return insertRefreshToken(ctx, tx, *first)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	return nil
}

// GetSession implements storage.SessionStore.
func (db *DB) GetSession(ctx context.Context, id string) (storage.Session, error) {
	st, err := db.rStmts.get(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`)
	if err != nil {
		return storage.Session{}, fmt.Errorf("sqlite: get session: %w", err)
	}
	s, err := scanSession(st.QueryRowContext(ctx, id))
	if err != nil {
		return storage.Session{}, fmt.Errorf("sqlite: get session: %w", notFound(err))
	}
	return s, nil
}

// ListSessions implements storage.SessionStore.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY created_at DESC, id DESC`, userID, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	defer rows.Close()
	var ss []storage.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list sessions: %w", err)
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	return ss, nil
}

// EndSession implements storage.SessionStore.
func (db *DB) EndSession(ctx context.Context, id string, now time.Time) error {
	if err := requireTime("now", now); err != nil {
		return fmt.Errorf("sqlite: end session: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		// coalesce keeps the first EndedAt of an ended session.
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = coalesce(ended_at, ?) WHERE id = ?`,
			timeArg(now), id)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE session_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: end session: %w", err)
	}
	return nil
}

// EndUserSessions implements storage.SessionStore.
func (db *DB) EndUserSessions(ctx context.Context, userID, keep string, now time.Time) ([]string, error) {
	if err := requireTime("now", now); err != nil {
		return nil, fmt.Errorf("sqlite: end user sessions: %w", err)
	}
	var ended []string
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		ended, err = endUserSessions(ctx, tx, userID, keep, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: end user sessions: %w", err)
	}
	return ended, nil
}

// EndedSessions implements storage.SessionStore.
func (db *DB) EndedSessions(ctx context.Context, since time.Time) ([]storage.EndedSession, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, ended_at FROM sessions
		WHERE ended_at > ? ORDER BY ended_at, id`, nanos(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: ended sessions: %w", err)
	}
	defer rows.Close()
	var es []storage.EndedSession
	for rows.Next() {
		var e storage.EndedSession
		if err := rows.Scan(&e.ID, timeCol{&e.EndedAt}); err != nil {
			return nil, fmt.Errorf("sqlite: ended sessions: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: ended sessions: %w", err)
	}
	return es, nil
}
