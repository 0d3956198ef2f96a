package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

const oneTimeCols = `hash, purpose, user_id, email, created_at, expires_at, used_at`

// CreateOneTimeToken implements storage.OneTimeTokenStore. The older tokens
// it supersedes get UsedAt = t.CreatedAt, which must therefore be set.
func (db *DB) CreateOneTimeToken(ctx context.Context, t storage.OneTimeToken) error {
	if err := requireTime("CreatedAt", t.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: create one-time token: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE one_time_tokens SET used_at = ?
			WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
			timeArg(t.CreatedAt), t.UserID, t.Purpose)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO one_time_tokens (`+oneTimeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.Purpose, t.UserID, t.Email, timeArg(t.CreatedAt), timeArg(t.ExpiresAt), timeArg(t.UsedAt))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create one-time token: %w", err)
	}
	return nil
}

// ConsumeOneTimeToken implements storage.OneTimeTokenStore. One conditional
// update both checks and spends the token, so of racing calls exactly one
// changes the row.
func (db *DB) ConsumeOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	if err := requireTime("now", now); err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("sqlite: consume one-time token: %w", err)
	}
	var t storage.OneTimeToken
	err := db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE one_time_tokens SET used_at = ?
			WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
			RETURNING `+oneTimeCols,
			timeArg(now), hash, purpose, nanos(now)).Scan(&t.Hash, &t.Purpose, &t.UserID, &t.Email,
			timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt})
		return notFound(err)
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("sqlite: consume one-time token: %w", err)
	}
	return t, nil
}

// CountOneTimeTokens implements storage.OneTimeTokenStore.
func (db *DB) CountOneTimeTokens(ctx context.Context, userID, purpose string, since time.Time) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM one_time_tokens
		WHERE user_id = ? AND purpose = ? AND created_at > ?`, userID, purpose, nanos(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count one-time tokens: %w", err)
	}
	return n, nil
}
