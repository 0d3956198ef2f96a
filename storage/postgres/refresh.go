package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
)

const refreshCols = `hash, session_id, client_id, user_id, scope, created_at, expires_at, spent_at, replay, replay_until`

// scanRefreshToken reads one row of refreshCols.
func scanRefreshToken(row rowScanner) (storage.RefreshToken, error) {
	var t storage.RefreshToken
	err := row.Scan(&t.Hash, &t.SessionID, &t.ClientID, &t.UserID, &t.Scope, timeCol{&t.CreatedAt},
		timeCol{&t.ExpiresAt}, timeCol{&t.SpentAt}, &t.Replay, timeCol{&t.ReplayUntil})
	return t, err
}

// insertRefreshToken inserts t; ErrAlreadyExists when its hash is taken.
func insertRefreshToken(ctx context.Context, tx pgx.Tx, t storage.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.Hash, t.SessionID, t.ClientID, t.UserID, t.Scope, timeArg(t.CreatedAt),
		timeArg(t.ExpiresAt), timeArg(t.SpentAt), blobArg(t.Replay), timeArg(t.ReplayUntil))
	return mapErr(err)
}

// GetRefreshToken implements storage.RefreshTokenStore.
func (db *DB) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, error) {
	t, err := scanRefreshToken(db.pool.QueryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1`, hash))
	if err != nil {
		return storage.RefreshToken{}, fmt.Errorf("postgres: get refresh token: %w", notFound(err))
	}
	return t, nil
}

// GetRefreshFamily implements storage.RefreshTokenStore: one read on the
// hot path of the refresh grant instead of three.
func (db *DB) GetRefreshFamily(ctx context.Context, hash string) (storage.RefreshToken, storage.Session, storage.User, error) {
	var t storage.RefreshToken
	var s storage.Session
	var u storage.User
	err := db.pool.QueryRow(ctx, `SELECT `+prefixed("t", refreshCols)+`, `+prefixed("s", sessionCols)+`, `+prefixed("u", userCols)+`
		FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1`, hash).Scan(
		&t.Hash, &t.SessionID, &t.ClientID, &t.UserID, &t.Scope, timeCol{&t.CreatedAt},
		timeCol{&t.ExpiresAt}, timeCol{&t.SpentAt}, &t.Replay, timeCol{&t.ReplayUntil},
		&s.ID, &s.UserID, &s.ClientID, &s.Scope, timeCol{&s.AuthTime}, timeCol{&s.CreatedAt},
		timeCol{&s.LastUsedAt}, timeCol{&s.ExpiresAt}, timeCol{&s.EndedAt}, &s.UserAgent, &s.Address,
		&u.ID, &u.PK, &u.Username, textCol{&u.Email}, &u.EmailVerified, &u.PasswordHash,
		&u.FirstName, &u.LastName, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return storage.RefreshToken{}, storage.Session{}, storage.User{}, fmt.Errorf("postgres: get refresh family: %w", notFound(err))
	}
	return t, s, u, nil
}

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// lockFamily locks the session of a token, so that rotations of one
// family, and the end of the session, run one after another: EndSession,
// EndUserSessions and the rest update the session row, and wait for a
// rotation holding this lock (or it for them). It returns the session id
// and whether the session lives.
const lockFamily = `SELECT s.id, s.ended_at IS NULL FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
	WHERE t.hash = $1 FOR NO KEY UPDATE OF s`

// spendRefreshToken is the conditional update that picks the one winner of
// racing rotations: only a call that finds the token unspent changes the
// row. Under the family's lock, the racers run it one after another, and
// each after the first finds spent_at set.
const spendRefreshToken = `UPDATE refresh_tokens SET spent_at = $1, replay = $2, replay_until = $3
	WHERE hash = $4 AND spent_at IS NULL`

// RotateRefreshToken implements storage.RefreshTokenStore.
//
// next.SessionID may be left empty: it is set to the family of oldHash. A
// next in another family is an error.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, replay []byte, replayUntil, now time.Time) error {
	if err := requireTime("now", now); err != nil {
		return fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		var sessionID string
		var live bool
		err := tx.QueryRow(ctx, lockFamily, oldHash).Scan(&sessionID, &live)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return storage.ErrNotFound // unknown token
		case err != nil:
			return err
		case !live:
			return storage.ErrNotFound // its session ended
		}
		tag, err := tx.Exec(ctx, spendRefreshToken, timeArg(now), blobArg(replay), timeArg(replayUntil), oldHash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrSpent
		}
		n := next
		switch n.SessionID {
		case "":
			n.SessionID = sessionID
		case sessionID:
		default:
			return fmt.Errorf("next token is in session %q, not in the family %q of the old one", n.SessionID, sessionID)
		}
		if err := insertRefreshToken(ctx, tx, n); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET last_used_at = $1 WHERE id = $2`, timeArg(now), sessionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	return nil
}
