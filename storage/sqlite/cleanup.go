package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

// RevokeJTI implements storage.Storage. Revoking a jti again keeps the later
// of the two exps.
func (db *DB) RevokeJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := requireTime("exp", exp); err != nil {
		return fmt.Errorf("sqlite: revoke jti: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO revoked_jtis (jti, exp) VALUES (?, ?)
			ON CONFLICT (jti) DO UPDATE SET exp = max(exp, excluded.exp)`, jti, nanos(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke jti: %w", err)
	}
	return nil
}

// RevokedJTIs implements storage.Storage.
func (db *DB) RevokedJTIs(ctx context.Context, now time.Time) ([]storage.RevokedJTI, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT jti, exp FROM revoked_jtis WHERE exp > ? ORDER BY exp, jti`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoked jtis: %w", err)
	}
	defer rows.Close()
	var rs []storage.RevokedJTI
	for rows.Next() {
		var r storage.RevokedJTI
		if err := rows.Scan(&r.JTI, timeCol{&r.Exp}); err != nil {
			return nil, fmt.Errorf("sqlite: revoked jtis: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoked jtis: %w", err)
	}
	return rs, nil
}

// expiredSessions selects at most limit sessions past their expiry; both
// deletes that use it see the same rows, as nothing changes sessions between
// them.
const expiredSessions = `SELECT id FROM sessions WHERE expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2`

// DeleteExpired implements storage.Storage. "Past" means at or before now,
// as for ConsumeOneTimeToken. The tokens deleted with an expired session
// count towards the total but not towards the limit on refresh tokens. A
// limit below 1 deletes nothing.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	n := int64(0)
	cutoff := nanos(now)
	steps := []struct{ what, query string }{
		{"refresh tokens", `DELETE FROM refresh_tokens WHERE hash IN
			(SELECT hash FROM refresh_tokens WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`},
		{"tokens of expired sessions", `DELETE FROM refresh_tokens WHERE session_id IN (` + expiredSessions + `)`},
		{"sessions", `DELETE FROM sessions WHERE id IN (` + expiredSessions + `)`},
		// The spent token itself stays until its own expiry, so reuse of it
		// is still detected; only the sealed response goes.
		{"replay data", `UPDATE refresh_tokens SET replay = NULL WHERE hash IN
			(SELECT hash FROM refresh_tokens WHERE replay IS NOT NULL AND replay_until <= ?1 ORDER BY replay_until LIMIT ?2)`},
		{"revoked jtis", `DELETE FROM revoked_jtis WHERE jti IN
			(SELECT jti FROM revoked_jtis WHERE exp <= ?1 ORDER BY exp LIMIT ?2)`},
		{"one-time tokens", `DELETE FROM one_time_tokens WHERE hash IN
			(SELECT hash FROM one_time_tokens WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`},
		{"authorization codes", `DELETE FROM auth_codes WHERE hash IN
			(SELECT hash FROM auth_codes WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`},
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, s := range steps {
			res, err := tx.ExecContext(ctx, s.query, cutoff, limit)
			if err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired: %w", err)
	}
	return int(n), nil
}
