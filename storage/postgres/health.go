package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ProbeWrite proves that the database still takes writes: it rewrites the
// one row of the health table in a write transaction. A server in
// recovery or a read-only standby (after a failover that left this
// instance on the old primary's address), a full disk or a lost
// privilege make it fail. It probes at most once a second: a call within
// a second of the last probe returns that probe's result. A probe cut
// short by ctx returns ctx's error and is not remembered.
func (db *DB) ProbeWrite(ctx context.Context) error {
	return db.probe.Run(ctx, func(now time.Time) error {
		err := db.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO health (id, probed_at) VALUES (1, $1)
				ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`, now.UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: %s takes no writes: %w", db.where, err)
		}
		return nil
	})
}
