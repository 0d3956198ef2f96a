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

const userCols = `id, pk, username, email, email_verified, password_hash, first_name, last_name, disabled, created_at, updated_at`

// insertUser inserts a user. A NULL pk (see pkArg) takes the next free one:
// every user insert holds the lockUsers advisory lock, so no other insert,
// in this process or another, can take the same number meanwhile.
const insertUser = `INSERT INTO users
	(id, pk, username, username_key, email, email_key, email_verified, password_hash, first_name, last_name, disabled, created_at, updated_at)
	VALUES ($1, coalesce($2, (SELECT coalesce(max(pk), 0) + 1 FROM users)), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// userArgs are the values of insertUser for u.
func userArgs(u storage.User) []any {
	return []any{
		u.ID, pkArg(u.PK), u.Username, storage.UsernameKey(u.Username),
		sqlcol.TextArg(u.Email), sqlcol.TextArg(storage.EmailKey(u.Email)), u.EmailVerified,
		u.PasswordHash, u.FirstName, u.LastName, u.Disabled,
		sqlcol.TimeArg(u.CreatedAt), sqlcol.TimeArg(u.UpdatedAt),
	}
}

// pkArg is a user's pk as a column value: NULL, "the next free one", for 0.
func pkArg(pk int64) any {
	if pk == 0 {
		return nil
	}
	return pk
}

// checkPK refuses a negative pk before the database's CHECK does, with a
// clearer error.
func checkPK(pk int64) error {
	if pk < 0 {
		return fmt.Errorf("pk %d is negative", pk)
	}
	return nil
}

// scanUser reads one row of userCols.
func scanUser(row rowScanner) (storage.User, error) {
	var u storage.User
	err := row.Scan(userTargets(&u)...)
	return u, err
}

// userTargets are the scan destinations of userCols, in order.
func userTargets(u *storage.User) []any {
	return []any{&u.ID, &u.PK, &u.Username, sqlcol.Text(&u.Email), &u.EmailVerified, &u.PasswordHash,
		&u.FirstName, &u.LastName, &u.Disabled, sqlcol.Time(&u.CreatedAt), sqlcol.Time(&u.UpdatedAt)}
}

// CreateUser implements storage.UserStore.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	if err := checkPK(u.PK); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	err := db.locked(ctx, lockUsers, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insertUser, userArgs(u)...)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	return nil
}

// getUser reads the user that where (with args) selects.
func (db *DB) getUser(ctx context.Context, what, where string, args ...any) (storage.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE `+where, args...))
	if err != nil {
		return storage.User{}, fmt.Errorf("postgres: %s: %w", what, notFound(err))
	}
	return u, nil
}

// GetUser implements storage.UserStore.
func (db *DB) GetUser(ctx context.Context, id string) (storage.User, error) {
	return db.getUser(ctx, "get user", `id = $1`, id)
}

// GetUserByPK implements storage.UserStore.
func (db *DB) GetUserByPK(ctx context.Context, pk int64) (storage.User, error) {
	return db.getUser(ctx, "get user by pk", `pk = $1`, pk)
}

// GetUserByUsername implements storage.UserStore.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	return db.getUser(ctx, "get user by username", `username_key = $1`, storage.UsernameKey(username))
}

// GetUserByEmail implements storage.UserStore.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (storage.User, error) {
	key := storage.EmailKey(email)
	if key == "" {
		// Users without an email have none to find them by.
		return storage.User{}, fmt.Errorf("postgres: get user by email: %w", storage.ErrNotFound)
	}
	return db.getUser(ctx, "get user by email", `email_key = $1`, key)
}

// UpdateUser implements storage.UserStore. The row is read with FOR
// UPDATE, at READ COMMITTED: a concurrent update of the same user waits
// for this one and then reads what it stored, and fn runs once (but for a
// deadlock, after which the whole call runs again). fn holds the row lock
// meanwhile: hash a new password before the call, not inside fn.
func (db *DB) UpdateUser(ctx context.Context, id string, now time.Time, fn func(*storage.User) error) (storage.User, error) {
	var (
		updated storage.User
		fnErr   error
	)
	err := db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, 0, func(tx pgx.Tx) error {
		fnErr = nil
		old, err := scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err)
		}
		u := old
		if fnErr = fn(&u); fnErr != nil {
			return fnErr
		}
		// Only the fields fn may change are written; the row keeps its id,
		// pk, created_at and disabled whatever fn did to them.
		_, err = tx.Exec(ctx, `UPDATE users SET
			username = $1, username_key = $2, email = $3, email_key = $4, email_verified = $5,
			password_hash = $6, first_name = $7, last_name = $8, updated_at = $9
			WHERE id = $10`,
			u.Username, storage.UsernameKey(u.Username), sqlcol.TextArg(u.Email), sqlcol.TextArg(storage.EmailKey(u.Email)),
			u.EmailVerified, u.PasswordHash, u.FirstName, u.LastName, sqlcol.TimeArg(now), old.ID)
		if err != nil {
			return mapErr(err)
		}
		if storage.EmailKey(u.Email) != storage.EmailKey(old.Email) {
			// Reset links mailed to the old address stop working.
			if _, err := tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1
				WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
				sqlcol.TimeArg(now), old.ID, storage.PurposeReset); err != nil {
				return err
			}
		}
		// Read back so the caller gets what is stored (times in UTC).
		updated, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, old.ID))
		return err
	})
	if fnErr != nil {
		return storage.User{}, fnErr
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("postgres: update user: %w", err)
	}
	return updated, nil
}

// SetPassword implements storage.UserStore.
func (db *DB) SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) ([]string, error) {
	ended, err := db.setPassword(ctx, userID, hash, keepSession, now, `WHERE id = $3`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: set password: %w", err)
	}
	return ended, nil
}

// ChangePassword implements storage.UserStore.
func (db *DB) ChangePassword(ctx context.Context, userID, oldHash, newHash, keepSession string, now time.Time) ([]string, error) {
	ended, err := db.setPassword(ctx, userID, newHash, keepSession, now,
		`WHERE id = $3 AND password_hash = $4 AND NOT disabled
		AND EXISTS (SELECT 1 FROM sessions WHERE id = $5 AND user_id = $3 AND ended_at IS NULL)`,
		userID, oldHash, keepSession)
	if err != nil {
		return nil, fmt.Errorf("postgres: change password: %w", err)
	}
	return ended, nil
}

// setPassword stores hash for the user row that where (with args from $3
// on) selects, ends the user's other sessions and voids reset links, in
// one transaction; storage.ErrNotFound when where selects no row.
func (db *DB) setPassword(ctx context.Context, userID, hash, keepSession string, now time.Time, where string, args ...any) ([]string, error) {
	if err := requireTime("now", now); err != nil {
		return nil, err
	}
	var ended []string
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 `+where,
			append([]any{hash, sqlcol.TimeArg(now)}, args...)...)
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		if ended, err = endUserSessions(ctx, tx, userID, keepSession, now); err != nil {
			return err
		}
		// A reset link mailed before the change must not work after it.
		_, err = tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1
			WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
			sqlcol.TimeArg(now), userID, storage.PurposeReset)
		return err
	})
	return ended, err
}

// UpgradePasswordHash implements storage.UserStore.
func (db *DB) UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string, now time.Time) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2
			WHERE id = $3 AND password_hash = $4`, newHash, sqlcol.TimeArg(now), userID, oldHash)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: upgrade password hash: %w", err)
	}
	return n == 1, nil
}

// SetDisabled implements storage.UserStore.
func (db *DB) SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) ([]string, error) {
	if err := requireTime("now", now); err != nil {
		return nil, fmt.Errorf("postgres: set disabled: %w", err)
	}
	var ended []string
	err := db.write(ctx, func(tx pgx.Tx) error {
		ended = nil
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3`,
			disabled, sqlcol.TimeArg(now), userID)
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		if disabled {
			ended, err = endUserSessions(ctx, tx, userID, "", now)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: set disabled: %w", err)
	}
	return ended, nil
}

// takenKeys names, by the constraint a unique violation names, the key of
// a user that was taken.
var takenKeys = map[string]string{
	"users_pkey":   "id",
	"users_pk_key": "pk",
	// The username is skipped (ON CONFLICT), never reported.
	"users_email_key_key": "email",
}

// ImportUsers implements storage.UserStore.
func (db *DB) ImportUsers(ctx context.Context, users []storage.User) ([]string, error) {
	for i, u := range users {
		if err := checkPK(u.PK); err != nil {
			return nil, fmt.Errorf("postgres: import users: %w", &storage.ImportError{Index: i, Err: err})
		}
	}
	var skipped []string
	err := db.locked(ctx, lockUsers, func(tx pgx.Tx) error {
		skipped = nil
		// Users without a pk are numbered after every pk in use or asked
		// for, so that no number given to one of them is taken later in
		// the list.
		var next int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(pk), 0) FROM users`).Scan(&next); err != nil {
			return err
		}
		for _, u := range users {
			next = max(next, u.PK)
		}
		next++
		for i, u := range users {
			numbered := u.PK == 0
			if numbered {
				u.PK = next
			}
			// ON CONFLICT names only username_key: a taken username is
			// skipped, any other unique key still fails the statement.
			tag, err := tx.Exec(ctx, insertUser+` ON CONFLICT (username_key) DO NOTHING`, userArgs(u)...)
			if err != nil {
				err = mapErr(err)
				ie := &storage.ImportError{Index: i, Err: err}
				if errors.Is(err, storage.ErrAlreadyExists) {
					ie.Key = takenKeys[constraint(err)]
				}
				return ie
			}
			switch {
			case tag.RowsAffected() == 0:
				skipped = append(skipped, u.Username)
			case numbered:
				next++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: import users: %w", err)
	}
	return skipped, nil
}
