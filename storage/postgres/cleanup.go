package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

// RevokeJTI implements storage.Storage. Revoking a jti again keeps the later
// of the two exps.
func (db *DB) RevokeJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := requireTime("exp", exp); err != nil {
		return fmt.Errorf("postgres: revoke jti: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO revoked_jtis (jti, exp) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET exp = greatest(revoked_jtis.exp, excluded.exp)`, jti, sqlcol.Nanos(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke jti: %w", err)
	}
	return nil
}

// RevokedJTIs implements storage.Storage.
func (db *DB) RevokedJTIs(ctx context.Context, now time.Time) ([]storage.RevokedJTI, error) {
	rows, err := db.pool.Query(ctx, `SELECT jti, exp FROM revoked_jtis WHERE exp >= $1 ORDER BY exp, jti`,
		sqlcol.Nanos(now.Add(-storage.RevocationSkew)))
	if err != nil {
		return nil, fmt.Errorf("postgres: revoked jtis: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.RevokedJTI, error) {
		var r storage.RevokedJTI
		err := row.Scan(&r.JTI, sqlcol.Time(&r.Exp))
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revoked jtis: %w", err)
	}
	return rs, nil
}

// sweepChunk is how many rows one housekeeping transaction deletes or
// erases, so that housekeeping never holds many row locks for long.
const sweepChunk = 128

// sweepSteps are the kinds DeleteExpired deletes, each a statement that
// deletes or erases at most $2 rows past $1. The sessions step deletes the
// legacy tokens of its sessions with them (ON DELETE CASCADE); those are
// not counted.
var sweepSteps = []struct {
	what  string
	query string
	// skew is subtracted from now for this kind.
	skew time.Duration
}{
	{"sessions", `DELETE FROM sessions WHERE id IN
		(SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, 0},
	{"replay data", `UPDATE sessions SET replay = NULL, replay_gen = NULL, replay_until = NULL WHERE id IN
		(SELECT id FROM sessions WHERE replay IS NOT NULL AND replay_until <= $1 ORDER BY replay_until LIMIT $2)`, 0},
	// Kept while now is not after exp + skew.
	{"revoked jtis", `DELETE FROM revoked_jtis WHERE jti IN
		(SELECT jti FROM revoked_jtis WHERE exp < $1 ORDER BY exp LIMIT $2)`, storage.RevocationSkew},
	{"one-time tokens", `DELETE FROM one_time_tokens WHERE hash IN
		(SELECT hash FROM one_time_tokens WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, 0},
	{"authorization codes", `DELETE FROM auth_codes WHERE hash IN
		(SELECT hash FROM auth_codes WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, 0},
	{"login failure counts", `DELETE FROM limit_failures WHERE key IN
		(SELECT key FROM limit_failures WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, 0},
	{"rate windows", `DELETE FROM limit_windows WHERE key IN
		(SELECT key FROM limit_windows WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, 0},
}

// DeleteExpired implements storage.Storage. "Past" means at or before now,
// as for ConsumeOneTimeToken. Each kind is deleted sweepChunk rows per
// transaction, up to limit. PostgreSQL's autovacuum reclaims the space.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	total := 0
	for _, step := range sweepSteps {
		cutoff := sqlcol.Nanos(now.Add(-step.skew))
		for done := 0; done < limit; {
			chunk := min(sweepChunk, limit-done)
			var k int64
			err := db.write(ctx, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, step.query, cutoff, chunk)
				k = tag.RowsAffected()
				return err
			})
			if err != nil {
				return total, fmt.Errorf("postgres: delete expired: %s: %w", step.what, err)
			}
			done += int(k)
			total += int(k)
			if int(k) < chunk {
				break
			}
		}
	}
	return total, nil
}
