package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

// ListUsers implements storage.UserStore. The prefix is compared by
// character (substr) on the stored keys, so a LIKE wildcard in it is an
// ordinary character.
func (db *DB) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("sqlite: list users: limit %d is below 1", q.Limit)
	}
	where := []string{"pk > ?"}
	args := []any{q.AfterPK}
	if q.Prefix != "" {
		var or []string
		if k := storage.UsernameKey(q.Prefix); k != "" {
			or = append(or, "substr(username_key, 1, length(?)) = ?")
			args = append(args, k, k)
		}
		if k := storage.EmailKey(q.Prefix); k != "" {
			or = append(or, "substr(email_key, 1, length(?)) = ?")
			args = append(args, k, k)
		}
		if len(or) == 0 {
			return nil, nil // a prefix of blanks names no key
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	args = append(args, q.Limit)
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE `+strings.Join(where, " AND ")+
		` ORDER BY pk LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// DeleteUser implements storage.UserStore. The child tables are emptied
// explicitly rather than left to ON DELETE CASCADE, so the contract does
// not hang on the foreign keys; tables added later that reference users or
// sessions with a cascade are covered by the final delete. A session's
// refresh family lives in its row and goes with it.
func (db *DB) DeleteUser(ctx context.Context, id string, now time.Time) ([]string, error) {
	var live []string
	err := db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM sessions
			WHERE user_id = ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, id, sqlcol.Nanos(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			var sid string
			if err := rows.Scan(&sid); err != nil {
				rows.Close()
				return err
			}
			live = append(live, sid)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM legacy_refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ?)`,
			`DELETE FROM auth_codes WHERE user_id = ?`,
			`DELETE FROM one_time_tokens WHERE user_id = ?`,
			`DELETE FROM sessions WHERE user_id = ?`,
			`DELETE FROM users WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete user: %w", err)
	}
	sort.Strings(live)
	return live, nil
}
