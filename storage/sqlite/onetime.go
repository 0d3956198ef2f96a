package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
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
			sqlcol.TimeArg(t.CreatedAt), t.UserID, t.Purpose)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO one_time_tokens (`+oneTimeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.Purpose, t.UserID, t.Email, sqlcol.TimeArg(t.CreatedAt), sqlcol.TimeArg(t.ExpiresAt), sqlcol.TimeArg(t.UsedAt))
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
	err := db.write(ctx, func(tx *sql.Tx) (err error) {
		t, err = consume(ctx, tx, hash, purpose, now)
		return err
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("sqlite: consume one-time token: %w", err)
	}
	return t, nil
}

// GetOneTimeToken implements storage.OneTimeTokenStore.
func (db *DB) GetOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	var t storage.OneTimeToken
	err := db.r.QueryRowContext(ctx, `SELECT `+oneTimeCols+` FROM one_time_tokens
		WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
		hash, purpose, sqlcol.Nanos(now)).Scan(&t.Hash, &t.Purpose, &t.UserID, &t.Email,
		sqlcol.Time(&t.CreatedAt), sqlcol.Time(&t.ExpiresAt), sqlcol.Time(&t.UsedAt))
	if err := notFound(err); err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("sqlite: get one-time token: %w", err)
	}
	return t, nil
}

// CountOneTimeTokens implements storage.OneTimeTokenStore.
func (db *DB) CountOneTimeTokens(ctx context.Context, userID, purpose string, since time.Time) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM one_time_tokens
		WHERE user_id = ? AND purpose = ? AND created_at > ?`, userID, purpose, sqlcol.Nanos(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count one-time tokens: %w", err)
	}
	return n, nil
}

// consume spends a one-time token inside tx; see ConsumeOneTimeToken.
func consume(ctx context.Context, tx *sql.Tx, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	var t storage.OneTimeToken
	err := tx.QueryRowContext(ctx, `UPDATE one_time_tokens SET used_at = ?
		WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+oneTimeCols,
		sqlcol.TimeArg(now), hash, purpose, sqlcol.Nanos(now)).Scan(&t.Hash, &t.Purpose, &t.UserID, &t.Email,
		sqlcol.Time(&t.CreatedAt), sqlcol.Time(&t.ExpiresAt), sqlcol.Time(&t.UsedAt))
	return t, notFound(err)
}

// ResetPassword implements storage.OneTimeTokenStore.
func (db *DB) ResetPassword(ctx context.Context, hash, passwordHash string, now time.Time) (storage.User, []string, error) {
	if err := requireTime("now", now); err != nil {
		return storage.User{}, nil, fmt.Errorf("sqlite: reset password: %w", err)
	}
	var u storage.User
	var ended []string
	err := db.write(ctx, func(tx *sql.Tx) error {
		t, err := consume(ctx, tx, hash, storage.PurposeReset, now)
		if err != nil {
			return err
		}
		// Only while the account still has the address the link went to.
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND email_key IS ?`,
			passwordHash, sqlcol.TimeArg(now), t.UserID, sqlcol.TextArg(storage.EmailKey(t.Email)))
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err // rolls the consumption back
		}
		if ended, err = endUserSessions(ctx, tx, t.UserID, "", now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE one_time_tokens SET used_at = ?
			WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
			sqlcol.TimeArg(now), t.UserID, storage.PurposeReset); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, t.UserID))
		return notFound(err)
	})
	if err != nil {
		return storage.User{}, nil, fmt.Errorf("sqlite: reset password: %w", err)
	}
	return u, ended, nil
}

// VerifyEmail implements storage.OneTimeTokenStore.
func (db *DB) VerifyEmail(ctx context.Context, hash string, now time.Time) (storage.User, error) {
	if err := requireTime("now", now); err != nil {
		return storage.User{}, fmt.Errorf("sqlite: verify email: %w", err)
	}
	var u storage.User
	err := db.write(ctx, func(tx *sql.Tx) error {
		t, err := consume(ctx, tx, hash, storage.PurposeVerifyEmail, now)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET email_verified = 1, updated_at = ?
			WHERE id = ? AND email_key = ?`, sqlcol.TimeArg(now), t.UserID, storage.EmailKey(t.Email))
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err // the address changed since the mail: roll the consumption back
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, t.UserID))
		return notFound(err)
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: verify email: %w", err)
	}
	return u, nil
}
