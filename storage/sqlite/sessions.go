package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const sessionCols = `id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at, ended_at, user_agent, address,
	refresh_gen, refresh_hash, refresh_key, refresh_expires_at, replay, replay_gen, replay_until`

// clearFamily is the SET list that erases a session's refresh family, for
// every statement that ends sessions.
const clearFamily = `refresh_gen = NULL, refresh_hash = NULL, refresh_key = NULL, refresh_expires_at = NULL,
	replay = NULL, replay_gen = NULL, replay_until = NULL`

// sessionDest is where one row of sessionCols is scanned; done turns it
// into the session.
type sessionDest struct {
	s           storage.Session
	gen         sql.NullInt64
	hash        sql.NullString
	key         []byte
	expires     time.Time
	replay      []byte
	replayGen   sql.NullInt64
	replayUntil time.Time
}

func (d *sessionDest) targets() []any {
	s := &d.s
	return []any{&s.ID, &s.UserID, &s.ClientID, &s.Scope, sqlcol.Time(&s.AuthTime), sqlcol.Time(&s.CreatedAt),
		sqlcol.Time(&s.LastUsedAt), sqlcol.Time(&s.ExpiresAt), sqlcol.Time(&s.EndedAt), &s.UserAgent, &s.Address,
		&d.gen, &d.hash, &d.key, sqlcol.Time(&d.expires), &d.replay, &d.replayGen, sqlcol.Time(&d.replayUntil)}
}

func (d *sessionDest) done() storage.Session {
	s := d.s
	if d.gen.Valid {
		s.Refresh = &storage.RefreshFamily{
			Generation:       uint64(d.gen.Int64),
			Hash:             d.hash.String,
			Key:              d.key,
			ExpiresAt:        d.expires,
			Replay:           d.replay,
			ReplayGeneration: uint64(d.replayGen.Int64),
			ReplayUntil:      d.replayUntil,
		}
	}
	return s
}

// scanSession reads one row of sessionCols.
func scanSession(row interface{ Scan(...any) error }) (storage.Session, error) {
	var d sessionDest
	if err := row.Scan(d.targets()...); err != nil {
		return storage.Session{}, err
	}
	return d.done(), nil
}

// genArg is a generation as a column value; SQLite integers are signed.
func genArg(g uint64) (int64, error) {
	if g > math.MaxInt64 {
		return 0, fmt.Errorf("generation %d is beyond what the database holds", g)
	}
	return int64(g), nil
}

// insertSession inserts s with its refresh family; ErrAlreadyExists when
// its id is taken.
func insertSession(ctx context.Context, tx *sql.Tx, s storage.Session) error {
	var gen, hash, key, expires, replay, replayGen, replayUntil any
	if f := s.Refresh; f != nil {
		if f.Hash == "" {
			return fmt.Errorf("session %q: refresh family without a hash", s.ID)
		}
		g, err := genArg(f.Generation)
		if err != nil {
			return err
		}
		rg, err := genArg(f.ReplayGeneration)
		if err != nil {
			return err
		}
		gen, hash, key, expires = g, f.Hash, sqlcol.BlobArg(f.Key), sqlcol.TimeArg(f.ExpiresAt)
		if len(f.Replay) > 0 {
			replay, replayGen, replayUntil = f.Replay, rg, sqlcol.TimeArg(f.ReplayUntil)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.ClientID, s.Scope, sqlcol.TimeArg(s.AuthTime), sqlcol.TimeArg(s.CreatedAt),
		sqlcol.TimeArg(s.LastUsedAt), sqlcol.TimeArg(s.ExpiresAt), sqlcol.TimeArg(s.EndedAt), s.UserAgent, s.Address,
		gen, hash, key, expires, replay, replayGen, replayUntil)
	return mapErr(err)
}

// CreateSession implements storage.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s storage.Session) error {
	err := db.write(ctx, func(tx *sql.Tx) error { return insertSession(ctx, tx, s) })
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

// GetSessionAndUser implements storage.SessionStore: one prepared read on
// the hot path of the refresh grant instead of two.
func (db *DB) GetSessionAndUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	st, err := db.rStmts.get(ctx, `SELECT `+prefixed("s", sessionCols)+`, `+prefixed("u", userCols)+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`)
	if err != nil {
		return storage.Session{}, storage.User{}, fmt.Errorf("sqlite: get session and user: %w", err)
	}
	var d sessionDest
	var u storage.User
	err = st.QueryRowContext(ctx, id).Scan(append(d.targets(), userTargets(&u)...)...)
	if err != nil {
		return storage.Session{}, storage.User{}, fmt.Errorf("sqlite: get session and user: %w", notFound(err))
	}
	return d.done(), u, nil
}

// ListSessions implements storage.SessionStore.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY created_at DESC, id DESC`, userID, sqlcol.Nanos(now))
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

// endSession ends one session inside tx and erases its refresh family; a
// session already ended keeps its first EndedAt. It reports whether the
// session exists.
func endSession(ctx context.Context, tx *sql.Tx, id string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = coalesce(ended_at, ?), `+clearFamily+`
		WHERE id = ?`, sqlcol.TimeArg(now), id)
	if err != nil {
		return false, err
	}
	if err := oneRow(res); err != nil {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM legacy_refresh_tokens WHERE session_id = ?`, id)
	return true, err
}

// EndSession implements storage.SessionStore.
func (db *DB) EndSession(ctx context.Context, id string, now time.Time) error {
	if err := requireTime("now", now); err != nil {
		return fmt.Errorf("sqlite: end session: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		found, err := endSession(ctx, tx, id, now)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
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
		WHERE ended_at > ? ORDER BY ended_at, id`, sqlcol.Nanos(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: ended sessions: %w", err)
	}
	defer rows.Close()
	var es []storage.EndedSession
	for rows.Next() {
		var e storage.EndedSession
		if err := rows.Scan(&e.ID, sqlcol.Time(&e.EndedAt)); err != nil {
			return nil, fmt.Errorf("sqlite: ended sessions: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: ended sessions: %w", err)
	}
	return es, nil
}
