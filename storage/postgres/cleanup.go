package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
)

// RevokeJTI implements storage.Storage. Revoking a jti again keeps the later
// of the two exps.
func (db *DB) RevokeJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := requireTime("exp", exp); err != nil {
		return fmt.Errorf("postgres: revoke jti: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO revoked_jtis (jti, exp) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET exp = greatest(revoked_jtis.exp, excluded.exp)`, jti, nanos(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke jti: %w", err)
	}
	return nil
}

// RevokedJTIs implements storage.Storage.
func (db *DB) RevokedJTIs(ctx context.Context, now time.Time) ([]storage.RevokedJTI, error) {
	rows, err := db.pool.Query(ctx, `SELECT jti, exp FROM revoked_jtis WHERE exp > $1 ORDER BY exp, jti`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: revoked jtis: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.RevokedJTI, error) {
		var r storage.RevokedJTI
		err := row.Scan(&r.JTI, timeCol{&r.Exp})
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revoked jtis: %w", err)
	}
	return rs, nil
}

// expiredSessions selects at most limit sessions past their expiry; both
// deletes that use it see the same rows, as nothing changes sessions between
// them within the transaction.
const expiredSessions = `SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2`

// DeleteExpired implements storage.Storage. "Past" means at or before now,
// as for ConsumeOneTimeToken. The tokens deleted with an expired session
// count towards the total but not towards the limit on refresh tokens. A
// limit below 1 deletes nothing.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	var n int64
	cutoff := nanos(now)
	steps := []struct{ what, query string }{
		{"refresh tokens", `DELETE FROM refresh_tokens WHERE hash IN
			(SELECT hash FROM refresh_tokens WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`},
		{"tokens of expired sessions", `DELETE FROM refresh_tokens WHERE session_id IN (` + expiredSessions + `)`},
		{"sessions", `DELETE FROM sessions WHERE id IN (` + expiredSessions + `)`},
		// The spent token itself stays until its own expiry, so reuse of it
		// is still detected; only the sealed response goes.
		{"replay data", `UPDATE refresh_tokens SET replay = NULL WHERE hash IN
			(SELECT hash FROM refresh_tokens WHERE replay IS NOT NULL AND replay_until <= $1 ORDER BY replay_until LIMIT $2)`},
		{"revoked jtis", `DELETE FROM revoked_jtis WHERE jti IN
			(SELECT jti FROM revoked_jtis WHERE exp <= $1 ORDER BY exp LIMIT $2)`},
		{"one-time tokens", `DELETE FROM one_time_tokens WHERE hash IN
			(SELECT hash FROM one_time_tokens WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`},
		{"authorization codes", `DELETE FROM auth_codes WHERE hash IN
			(SELECT hash FROM auth_codes WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`},
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, s := range steps {
			tag, err := tx.Exec(ctx, s.query, cutoff, limit)
			if err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired: %w", err)
	}
	return int(n), nil
}
