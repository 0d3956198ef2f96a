package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

// RevokeJTI implements storage.Storage. Revoking a jti again keeps the later
// of the two exps.
func (db *DB) RevokeJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := requireTime("exp", exp); err != nil {
		return fmt.Errorf("sqlite: revoke jti: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO revoked_jtis (jti, exp) VALUES (?, ?)
			ON CONFLICT (jti) DO UPDATE SET exp = max(exp, excluded.exp)`, jti, sqlcol.Nanos(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke jti: %w", err)
	}
	return nil
}

// RevokedJTIs implements storage.Storage.
func (db *DB) RevokedJTIs(ctx context.Context, now time.Time) ([]storage.RevokedJTI, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT jti, exp FROM revoked_jtis WHERE exp >= ? ORDER BY exp, jti`,
		sqlcol.Nanos(now.Add(-storage.RevocationSkew)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoked jtis: %w", err)
	}
	defer rows.Close()
	var rs []storage.RevokedJTI
	for rows.Next() {
		var r storage.RevokedJTI
		if err := rows.Scan(&r.JTI, sqlcol.Time(&r.Exp)); err != nil {
			return nil, fmt.Errorf("sqlite: revoked jtis: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoked jtis: %w", err)
	}
	return rs, nil
}

// Housekeeping runs in short write transactions: a rotation waiting for
// the write lock behind one waits for at most sweepChunk row deletions (a
// few milliseconds), never for a whole sweep.
const (
	// sweepChunk is how many rows one housekeeping transaction deletes or
	// erases.
	sweepChunk = 128
	// vacuumChunk is how many free pages one transaction returns to the
	// file system, and vacuumRounds how many such transactions one
	// DeleteExpired runs at most.
	vacuumChunk  = 256
	vacuumRounds = 64
)

// sweepSteps are the kinds DeleteExpired deletes, each a statement that
// deletes or erases at most ?2 rows past ?1. The sessions step deletes the
// legacy tokens of its sessions with them (ON DELETE CASCADE); those are
// not counted.
var sweepSteps = []struct {
	what  string
	query string
	// skew is subtracted from now for this kind.
	skew time.Duration
}{
	{"sessions", `DELETE FROM sessions WHERE id IN
		(SELECT id FROM sessions WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`, 0},
	{"replay data", `UPDATE sessions SET replay = NULL, replay_gen = NULL, replay_until = NULL WHERE id IN
		(SELECT id FROM sessions WHERE replay IS NOT NULL AND replay_until <= ?1 ORDER BY replay_until LIMIT ?2)`, 0},
	// Kept while now is not after exp + skew.
	{"revoked jtis", `DELETE FROM revoked_jtis WHERE jti IN
		(SELECT jti FROM revoked_jtis WHERE exp < ?1 ORDER BY exp LIMIT ?2)`, storage.RevocationSkew},
	{"one-time tokens", `DELETE FROM one_time_tokens WHERE hash IN
		(SELECT hash FROM one_time_tokens WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`, 0},
	{"authorization codes", `DELETE FROM auth_codes WHERE hash IN
		(SELECT hash FROM auth_codes WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`, 0},
	{"login failure counts", `DELETE FROM limit_failures WHERE key IN
		(SELECT key FROM limit_failures WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`, 0},
	{"rate windows", `DELETE FROM limit_windows WHERE key IN
		(SELECT key FROM limit_windows WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)`, 0},
}

// DeleteExpired implements storage.Storage. "Past" means at or before now,
// as for ConsumeOneTimeToken. Each kind is deleted sweepChunk rows per
// transaction, up to limit; then, if the database has incremental
// auto-vacuum, the pages freed are returned to the file system, again in
// short transactions.
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
			err := db.write(ctx, func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, step.query, cutoff, chunk)
				if err != nil {
					return err
				}
				k, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, fmt.Errorf("sqlite: delete expired: %s: %w", step.what, err)
			}
			done += int(k)
			total += int(k)
			if int(k) < chunk {
				break
			}
		}
	}
	if total > 0 {
		if err := db.vacuumFreePages(ctx); err != nil {
			return total, fmt.Errorf("sqlite: delete expired: %w", err)
		}
	}
	return total, nil
}

// vacuumFreePages returns free pages to the file system, vacuumChunk pages
// per transaction, until none is left or vacuumRounds transactions have
// run. It does nothing on a database without incremental auto-vacuum.
func (db *DB) vacuumFreePages(ctx context.Context) error {
	var mode int
	if err := db.w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("auto_vacuum: %w", err)
	}
	if mode != autoVacuumIncremental {
		return nil
	}
	for range vacuumRounds {
		var free int
		err := db.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumChunk)); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free)
		})
		if err != nil {
			return fmt.Errorf("incremental vacuum: %w", err)
		}
		if free == 0 {
			return nil
		}
	}
	return nil
}
