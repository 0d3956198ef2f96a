package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

// ListUsers implements storage.UserStore. The prefix is compared with
// starts_with on the stored keys, so a LIKE wildcard in it is an ordinary
// character.
func (db *DB) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("postgres: list users: limit %d is below 1", q.Limit)
	}
	args := []any{q.AfterPK}
	where := []string{"pk > $1"}
	if q.Prefix != "" {
		var or []string
		if k := storage.UsernameKey(q.Prefix); k != "" {
			args = append(args, k)
			or = append(or, fmt.Sprintf("starts_with(username_key, $%d)", len(args)))
		}
		if k := storage.EmailKey(q.Prefix); k != "" {
			args = append(args, k)
			or = append(or, fmt.Sprintf("starts_with(email_key, $%d)", len(args)))
		}
		if len(or) == 0 {
			return nil, nil // a prefix of blanks names no key
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	args = append(args, q.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY pk LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return us, nil
}

// DeleteUser implements storage.UserStore. The user's row is locked first,
// so a login or a rotation of one of their sessions either commits before
// the deletion or finds nothing; the child tables are emptied explicitly
// rather than left to ON DELETE CASCADE alone.
func (db *DB) DeleteUser(ctx context.Context, id string, now time.Time) ([]string, error) {
	var live []string
	err := db.write(ctx, func(tx pgx.Tx) error {
		live = nil
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
			return notFound(err)
		}
		rows, err := tx.Query(ctx, `SELECT id FROM sessions
			WHERE user_id = $1 AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > $2) FOR UPDATE`, id, sqlcol.Nanos(now))
		if err != nil {
			return err
		}
		if live, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM legacy_refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)`,
			`DELETE FROM auth_codes WHERE user_id = $1`,
			`DELETE FROM one_time_tokens WHERE user_id = $1`,
			`DELETE FROM sessions WHERE user_id = $1`,
			`DELETE FROM users WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: delete user: %w", err)
	}
	sort.Strings(live)
	return live, nil
}
