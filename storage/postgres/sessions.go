package postgres

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

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
	gen         *int64
	hash        *string
	key         []byte
	expires     time.Time
	replay      []byte
	replayGen   *int64
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
	if d.gen != nil {
		f := &storage.RefreshFamily{
			Generation:  uint64(*d.gen),
			Key:         d.key,
			ExpiresAt:   d.expires,
			Replay:      d.replay,
			ReplayUntil: d.replayUntil,
		}
		if d.hash != nil {
			f.Hash = *d.hash
		}
		if d.replayGen != nil {
			f.ReplayGeneration = uint64(*d.replayGen)
		}
		s.Refresh = f
	}
	return s
}

// scanSession reads one row of sessionCols.
func scanSession(row rowScanner) (storage.Session, error) {
	var d sessionDest
	if err := row.Scan(d.targets()...); err != nil {
		return storage.Session{}, err
	}
	return d.done(), nil
}

// genArg is a generation as a column value; bigint is signed.
func genArg(g uint64) (int64, error) {
	if g > math.MaxInt64 {
		return 0, fmt.Errorf("generation %d is beyond what the database holds", g)
	}
	return int64(g), nil
}

// insertSession inserts s with its refresh family; ErrAlreadyExists when
// its id is taken.
func insertSession(ctx context.Context, tx pgx.Tx, s storage.Session) error {
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
	_, err := tx.Exec(ctx, `INSERT INTO sessions (`+sessionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		s.ID, s.UserID, s.ClientID, s.Scope, sqlcol.TimeArg(s.AuthTime), sqlcol.TimeArg(s.CreatedAt),
		sqlcol.TimeArg(s.LastUsedAt), sqlcol.TimeArg(s.ExpiresAt), sqlcol.TimeArg(s.EndedAt), s.UserAgent, s.Address,
		gen, hash, key, expires, replay, replayGen, replayUntil)
	return mapErr(err)
}

// CreateSession implements storage.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s storage.Session) error {
	err := db.write(ctx, func(tx pgx.Tx) error { return insertSession(ctx, tx, s) })
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

// GetSessionAndUser implements storage.SessionStore: one read on the hot
// path of the refresh grant instead of two.
func (db *DB) GetSessionAndUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	var d sessionDest
	var u storage.User
	err := db.pool.QueryRow(ctx, `SELECT `+prefixed("s", sessionCols)+`, `+prefixed("u", userCols)+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, id).Scan(append(d.targets(), userTargets(&u)...)...)
	if err != nil {
		return storage.Session{}, storage.User{}, fmt.Errorf("postgres: get session and user: %w", notFound(err))
	}
	return d.done(), u, nil
}

// ListSessions implements storage.SessionStore.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = $1 AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY created_at DESC, id DESC`, userID, sqlcol.Nanos(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	ss, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Session, error) { return scanSession(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	return ss, nil
}

// endSession ends one session inside tx and erases its refresh family; a
// session already ended keeps its first EndedAt. It reports whether the
// session exists. The UPDATE locks the row: a rotation of the family
// waits for it, then finds the session ended.
func endSession(ctx context.Context, tx pgx.Tx, id string, now time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE sessions SET ended_at = coalesce(ended_at, $1), `+clearFamily+`
		WHERE id = $2`, sqlcol.TimeArg(now), id)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	_, err = tx.Exec(ctx, `DELETE FROM legacy_refresh_tokens WHERE session_id = $1`, id)
	return true, err
}

// EndSession implements storage.SessionStore.
func (db *DB) EndSession(ctx context.Context, id string, now time.Time) error {
	if err := requireTime("now", now); err != nil {
		return fmt.Errorf("postgres: end session: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		found, err := endSession(ctx, tx, id, now)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
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
		// The lock the other bulk ends take by updating the user's row.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
			return err
		}
		var err error
		ended, err = endUserSessions(ctx, tx, userID, keep, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: end user sessions: %w", err)
	}
	return ended, nil
}

// endUserSessions ends the user's live sessions except keep, erases their
// refresh families, deletes the user's unredeemed authorization codes
// except those the sign-in session keep issued, and returns the ids it
// ended, sorted.
//
// The caller holds the user's row locked (FOR NO KEY UPDATE, or by
// updating it), which RedeemAuthCode waits for (FOR SHARE) before it
// starts a session from a code: a redemption racing this either commits
// first, and its session is ended here, or runs after, and finds its code
// deleted or its sign-in ended.
func endUserSessions(ctx context.Context, tx pgx.Tx, userID, keep string, now time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE sessions SET ended_at = $1, `+clearFamily+`
		WHERE user_id = $2 AND id <> $3 AND ended_at IS NULL RETURNING id`,
		sqlcol.TimeArg(now), userID, keep)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	// Legacy tokens of sessions ended earlier are already gone, so this
	// deletes exactly those of the sessions just ended.
	_, err = tx.Exec(ctx, `DELETE FROM legacy_refresh_tokens WHERE session_id IN
		(SELECT id FROM sessions WHERE user_id = $1 AND id <> $2 AND ended_at IS NOT NULL)`,
		userID, keep)
	if err != nil {
		return nil, err
	}
	// A code issued before the end must not start a session after it.
	// Redeemed codes stay: a replay of one must still be recognised.
	_, err = tx.Exec(ctx, `DELETE FROM auth_codes WHERE user_id = $1 AND redeemed_at IS NULL
		AND ($2 = '' OR sign_in_session_id IS NULL OR sign_in_session_id <> $2)`, userID, keep)
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	return ids, nil
}

// EndedSessions implements storage.SessionStore.
func (db *DB) EndedSessions(ctx context.Context, since time.Time) ([]storage.EndedSession, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, ended_at FROM sessions
		WHERE ended_at > $1 ORDER BY ended_at, id`, sqlcol.Nanos(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: ended sessions: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.EndedSession, error) {
		var e storage.EndedSession
		err := row.Scan(&e.ID, sqlcol.Time(&e.EndedAt))
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: ended sessions: %w", err)
	}
	return es, nil
}
