package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// probeEvery is how long ProbeWrite answers from its last result.
const probeEvery = time.Second

// probe is ProbeWrite's state: one probe runs at a time, and its result
// stands for probeEvery.
type probe struct {
	sem chan struct{}
	at  time.Time
	err error
}

func (p *probe) init() { p.sem = make(chan struct{}, 1) }

// ProbeWrite proves that the database still takes writes: it rewrites the
// one row of the health table in a write transaction. A server in
// recovery or a read-only standby (after a failover that left this
// instance on the old primary's address), a full disk or a lost
// privilege make it fail. It probes at most once a second: a call within
// a second of the last probe returns that probe's result. A probe cut
// short by ctx returns ctx's error and is not remembered.
func (db *DB) ProbeWrite(ctx context.Context) error {
	select {
	case db.probe.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.probe.sem }()
	now := time.Now()
	if !db.probe.at.IsZero() && now.Sub(db.probe.at) < probeEvery {
		return db.probe.err
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO health (id, probed_at) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`, now.UnixNano())
		return err
	})
	if err != nil {
		err = fmt.Errorf("postgres: %s takes no writes: %w", db.where, err)
		if ctx.Err() != nil {
			return err
		}
	}
	db.probe.at, db.probe.err = now, err
	return err
}
