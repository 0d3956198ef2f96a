package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const oneTimeCols = `hash, purpose, user_id, email, created_at, expires_at, used_at`

// scanOneTimeToken reads one row of oneTimeCols.
func scanOneTimeToken(row rowScanner) (storage.OneTimeToken, error) {
	var t storage.OneTimeToken
	err := row.Scan(&t.Hash, &t.Purpose, &t.UserID, &t.Email,
		sqlcol.Time(&t.CreatedAt), sqlcol.Time(&t.ExpiresAt), sqlcol.Time(&t.UsedAt))
	return t, err
}

// CreateOneTimeToken implements storage.OneTimeTokenStore. The older tokens
// it supersedes get UsedAt = t.CreatedAt, which must therefore be set.
// Creations for one user run one after another (a lock on the user's row),
// so of two racing ones the second marks the first used, as SQLite's
// single writer would.
func (db *DB) CreateOneTimeToken(ctx context.Context, t storage.OneTimeToken) error {
	if err := requireTime("CreatedAt", t.CreatedAt); err != nil {
		return fmt.Errorf("postgres: create one-time token: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		// No row for an unknown user: the insert's foreign key fails then.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, t.UserID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1
			WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
			sqlcol.TimeArg(t.CreatedAt), t.UserID, t.Purpose)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO one_time_tokens (`+oneTimeCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.Hash, t.Purpose, t.UserID, t.Email, sqlcol.TimeArg(t.CreatedAt), sqlcol.TimeArg(t.ExpiresAt), sqlcol.TimeArg(t.UsedAt))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("postgres: create one-time token: %w", err)
	}
	return nil
}

// ConsumeOneTimeToken implements storage.OneTimeTokenStore. One conditional
// update both checks and spends the token, so of racing calls exactly one
// changes the row (the others wait for it, check again, and find it used).
func (db *DB) ConsumeOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	if err := requireTime("now", now); err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("postgres: consume one-time token: %w", err)
	}
	var t storage.OneTimeToken
	err := db.write(ctx, func(tx pgx.Tx) (err error) {
		t, err = consume(ctx, tx, hash, purpose, now)
		return err
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("postgres: consume one-time token: %w", err)
	}
	return t, nil
}

// GetOneTimeToken implements storage.OneTimeTokenStore.
func (db *DB) GetOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	t, err := scanOneTimeToken(db.pool.QueryRow(ctx, `SELECT `+oneTimeCols+` FROM one_time_tokens
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3`,
		hash, purpose, sqlcol.Nanos(now)))
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("postgres: get one-time token: %w", notFound(err))
	}
	return t, nil
}

// CountOneTimeTokens implements storage.OneTimeTokenStore.
func (db *DB) CountOneTimeTokens(ctx context.Context, userID, purpose string, since time.Time) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM one_time_tokens
		WHERE user_id = $1 AND purpose = $2 AND created_at > $3`, userID, purpose, sqlcol.Nanos(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count one-time tokens: %w", err)
	}
	return n, nil
}

// consume spends a one-time token inside tx; see ConsumeOneTimeToken.
func consume(ctx context.Context, tx pgx.Tx, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	t, err := scanOneTimeToken(tx.QueryRow(ctx, `UPDATE one_time_tokens SET used_at = $1
		WHERE hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $4
		RETURNING `+oneTimeCols,
		sqlcol.TimeArg(now), hash, purpose, sqlcol.Nanos(now)))
	return t, notFound(err)
}

// ResetPassword implements storage.OneTimeTokenStore.
func (db *DB) ResetPassword(ctx context.Context, hash, passwordHash string, now time.Time) (storage.User, []string, error) {
	if err := requireTime("now", now); err != nil {
		return storage.User{}, nil, fmt.Errorf("postgres: reset password: %w", err)
	}
	var u storage.User
	var ended []string
	err := db.write(ctx, func(tx pgx.Tx) error {
		t, err := consume(ctx, tx, hash, storage.PurposeReset, now)
		if err != nil {
			return err
		}
		// Only while the account still has the address the link went to.
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2
			WHERE id = $3 AND email_key IS NOT DISTINCT FROM $4`,
			passwordHash, sqlcol.TimeArg(now), t.UserID, sqlcol.TextArg(storage.EmailKey(t.Email)))
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err // rolls the consumption back
		}
		if ended, err = endUserSessions(ctx, tx, t.UserID, "", now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1
			WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
			sqlcol.TimeArg(now), t.UserID, storage.PurposeReset); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, t.UserID))
		return notFound(err)
	})
	if err != nil {
		return storage.User{}, nil, fmt.Errorf("postgres: reset password: %w", err)
	}
	return u, ended, nil
}

// VerifyEmail implements storage.OneTimeTokenStore.
func (db *DB) VerifyEmail(ctx context.Context, hash string, now time.Time) (storage.User, error) {
	if err := requireTime("now", now); err != nil {
		return storage.User{}, fmt.Errorf("postgres: verify email: %w", err)
	}
	var u storage.User
	err := db.write(ctx, func(tx pgx.Tx) error {
		t, err := consume(ctx, tx, hash, storage.PurposeVerifyEmail, now)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET email_verified = true, updated_at = $1
			WHERE id = $2 AND email_key = $3`, sqlcol.TimeArg(now), t.UserID, storage.EmailKey(t.Email))
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err // the address changed since the mail: roll the consumption back
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, t.UserID))
		return notFound(err)
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("postgres: verify email: %w", err)
	}
	return u, nil
}
