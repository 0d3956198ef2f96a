package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const userCols = `id, pk, username, email, email_verified, password_hash, first_name, last_name, disabled, created_at, updated_at`

// insertUser inserts a user. A NULL pk (see pkArg) takes the next free one:
// the write transaction holds the database's write lock, so no other
// writer, in this process or another, can take the same number meanwhile.
const insertUser = `INSERT INTO users
	(id, pk, username, username_key, email, email_key, email_verified, password_hash, first_name, last_name, disabled, created_at, updated_at)
	VALUES (?, coalesce(?, (SELECT coalesce(max(pk), 0) + 1 FROM users)), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

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
func scanUser(row interface{ Scan(...any) error }) (storage.User, error) {
	var u storage.User
	err := row.Scan(userTargets(&u)...)
	return u, err
}

// userTargets are the scan destinations of userCols, in order: the one
// list every query that reads users uses.
func userTargets(u *storage.User) []any {
	return []any{&u.ID, &u.PK, &u.Username, sqlcol.Text(&u.Email), &u.EmailVerified, &u.PasswordHash,
		&u.FirstName, &u.LastName, &u.Disabled, sqlcol.Time(&u.CreatedAt), sqlcol.Time(&u.UpdatedAt)}
}

// CreateUser implements storage.UserStore.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	if err := checkPK(u.PK); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, insertUser, userArgs(u)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", mapErr(err))
	}
	return nil
}

// GetUser implements storage.UserStore.
func (db *DB) GetUser(ctx context.Context, id string) (storage.User, error) {
	st, err := db.rStmts.get(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`)
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: get user: %w", err)
	}
	u, err := scanUser(st.QueryRowContext(ctx, id))
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: get user: %w", notFound(err))
	}
	return u, nil
}

// GetUserByPK implements storage.UserStore.
func (db *DB) GetUserByPK(ctx context.Context, pk int64) (storage.User, error) {
	st, err := db.rStmts.get(ctx, `SELECT `+userCols+` FROM users WHERE pk = ?`)
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: get user by pk: %w", err)
	}
	u, err := scanUser(st.QueryRowContext(ctx, pk))
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: get user by pk: %w", notFound(err))
	}
	return u, nil
}

// GetUserByUsername implements storage.UserStore.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM users WHERE username_key = ?`, storage.UsernameKey(username)))
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: get user by username: %w", notFound(err))
	}
	return u, nil
}

// GetUserByEmail implements storage.UserStore.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (storage.User, error) {
	key := storage.EmailKey(email)
	if key == "" {
		// Users without an email have none to find them by.
		return storage.User{}, fmt.Errorf("sqlite: get user by email: %w", storage.ErrNotFound)
	}
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email_key = ?`, key))
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: get user by email: %w", notFound(err))
	}
	return u, nil
}

// UpdateUser implements storage.UserStore. fn runs inside the write
// transaction and so holds up every writer: hash a new password before the
// call, not inside fn.
func (db *DB) UpdateUser(ctx context.Context, id string, now time.Time, fn func(*storage.User) error) (storage.User, error) {
	var (
		updated storage.User
		fnErr   error
	)
	err := db.write(ctx, func(tx *sql.Tx) error {
		old, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
		if err != nil {
			return notFound(err)
		}
		u := old
		if fnErr = fn(&u); fnErr != nil {
			return fnErr
		}
		// Only the fields fn may change are written; the row keeps its id,
		// created_at and disabled whatever fn did to them.
		_, err = tx.ExecContext(ctx, `UPDATE users SET
			username = ?, username_key = ?, email = ?, email_key = ?, email_verified = ?,
			password_hash = ?, first_name = ?, last_name = ?, updated_at = ?
			WHERE id = ?`,
			u.Username, storage.UsernameKey(u.Username), sqlcol.TextArg(u.Email), sqlcol.TextArg(storage.EmailKey(u.Email)),
			u.EmailVerified, u.PasswordHash, u.FirstName, u.LastName, sqlcol.TimeArg(now), old.ID)
		if err != nil {
			return mapErr(err)
		}
		if storage.EmailKey(u.Email) != storage.EmailKey(old.Email) {
			// Reset links mailed to the old address stop working.
			if _, err := tx.ExecContext(ctx, `UPDATE one_time_tokens SET used_at = ?
				WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
				sqlcol.TimeArg(now), old.ID, storage.PurposeReset); err != nil {
				return err
			}
		}
		// Read back so the caller gets what is stored (times in UTC).
		updated, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, old.ID))
		return err
	})
	if fnErr != nil {
		return storage.User{}, fnErr
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("sqlite: update user: %w", err)
	}
	return updated, nil
}

// SetPassword implements storage.UserStore.
func (db *DB) SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) ([]string, error) {
	ended, err := db.setPassword(ctx, userID, hash, keepSession, now, `WHERE id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: set password: %w", err)
	}
	return ended, nil
}

// ChangePassword implements storage.UserStore.
func (db *DB) ChangePassword(ctx context.Context, userID, oldHash, newHash, keepSession string, now time.Time) ([]string, error) {
	ended, err := db.setPassword(ctx, userID, newHash, keepSession, now,
		`WHERE id = ? AND password_hash = ? AND disabled = 0
		AND EXISTS (SELECT 1 FROM sessions WHERE id = ? AND user_id = ? AND ended_at IS NULL)`,
		userID, oldHash, keepSession, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: change password: %w", err)
	}
	return ended, nil
}

// setPassword stores hash for the user row that where (with args)
// selects, ends the user's other sessions and voids reset links, in one
// transaction; storage.ErrNotFound when where selects no row.
func (db *DB) setPassword(ctx context.Context, userID, hash, keepSession string, now time.Time, where string, args ...any) ([]string, error) {
	if err := requireTime("now", now); err != nil {
		return nil, err
	}
	var ended []string
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? `+where,
			append([]any{hash, sqlcol.TimeArg(now)}, args...)...)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		if ended, err = endUserSessions(ctx, tx, userID, keepSession, now); err != nil {
			return err
		}
		// A reset link mailed before the change must not work after it.
		_, err = tx.ExecContext(ctx, `UPDATE one_time_tokens SET used_at = ?
			WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
			sqlcol.TimeArg(now), userID, storage.PurposeReset)
		return err
	})
	return ended, err
}

// UpgradePasswordHash implements storage.UserStore.
func (db *DB) UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string, now time.Time) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ?
			WHERE id = ? AND password_hash = ?`, newHash, sqlcol.TimeArg(now), userID, oldHash)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: upgrade password hash: %w", err)
	}
	return n == 1, nil
}

// SetDisabled implements storage.UserStore.
func (db *DB) SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) ([]string, error) {
	if err := requireTime("now", now); err != nil {
		return nil, fmt.Errorf("sqlite: set disabled: %w", err)
	}
	var ended []string
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`,
			disabled, sqlcol.TimeArg(now), userID)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		if disabled {
			ended, err = endUserSessions(ctx, tx, userID, "", now)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: set disabled: %w", err)
	}
	return ended, nil
}

// ImportUsers implements storage.UserStore.
func (db *DB) ImportUsers(ctx context.Context, users []storage.User) ([]string, error) {
	for i, u := range users {
		if err := checkPK(u.PK); err != nil {
			return nil, fmt.Errorf("sqlite: import users: %w", &storage.ImportError{Index: i, Err: err})
		}
	}
	var skipped []string
	err := db.write(ctx, func(tx *sql.Tx) error {
		// Users without a pk are numbered after every pk in use or asked
		// for, so that no number given to one of them is taken later in
		// the list.
		var next int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(pk), 0) FROM users`).Scan(&next); err != nil {
			return err
		}
		for _, u := range users {
			next = max(next, u.PK)
		}
		next++
		// ON CONFLICT names only username_key: a taken username is skipped,
		// any other unique key still fails the statement.
		st, err := tx.PrepareContext(ctx, insertUser+` ON CONFLICT (username_key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, u := range users {
			numbered := u.PK == 0
			if numbered {
				u.PK = next
			}
			res, err := st.ExecContext(ctx, userArgs(u)...)
			if err != nil {
				err = mapErr(err)
				ie := &storage.ImportError{Index: i, Err: err}
				if errors.Is(err, storage.ErrAlreadyExists) {
					if ie.Key, err = takenKey(ctx, tx, u); err != nil {
						return errors.Join(ie, err)
					}
				}
				return ie
			}
			n, err := res.RowsAffected()
			if err != nil {
				return &storage.ImportError{Index: i, Err: err}
			}
			switch {
			case n == 0:
				skipped = append(skipped, u.Username)
			case numbered:
				next++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: import users: %w", err)
	}
	return skipped, nil
}

// takenKey says which unique key of u, other than the username, a row of
// users already holds: "id", "pk" or "email" ("" for none of them).
func takenKey(ctx context.Context, tx *sql.Tx, u storage.User) (string, error) {
	for _, k := range []struct {
		name, where string
		arg         any
	}{
		{"id", "id = ?", u.ID},
		{"pk", "pk = ?", u.PK},
		{"email", "email_key = ?", sqlcol.TextArg(storage.EmailKey(u.Email))},
	} {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE `+k.where, k.arg).Scan(&n)
		if err != nil {
			return "", err
		}
		if n > 0 {
			return k.name, nil
		}
	}
	return "", nil
}

// oneRow fails with storage.ErrNotFound unless res changed a row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// endUserSessions ends the user's live sessions except keep, erases their
// refresh families, deletes the user's unredeemed authorization codes
// except those the sign-in session keep issued, and returns the ids it
// ended, sorted.
func endUserSessions(ctx context.Context, tx *sql.Tx, userID, keep string, now time.Time) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE sessions SET ended_at = ?, `+clearFamily+`
		WHERE user_id = ? AND id <> ? AND ended_at IS NULL RETURNING id`,
		sqlcol.TimeArg(now), userID, keep)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// Legacy tokens of sessions ended earlier are already gone, so this
	// deletes exactly those of the sessions just ended.
	_, err = tx.ExecContext(ctx, `DELETE FROM legacy_refresh_tokens WHERE session_id IN
		(SELECT id FROM sessions WHERE user_id = ? AND id <> ? AND ended_at IS NOT NULL)`,
		userID, keep)
	if err != nil {
		return nil, err
	}
	// A code issued before the end must not start a session after it.
	// Redeemed codes stay: a replay of one must still be recognised.
	_, err = tx.ExecContext(ctx, `DELETE FROM auth_codes WHERE user_id = ?1 AND redeemed_at IS NULL
		AND (?2 = '' OR sign_in_session_id IS NULL OR sign_in_session_id <> ?2)`, userID, keep)
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	return ids, nil
}
