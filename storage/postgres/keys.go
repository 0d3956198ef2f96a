package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const keyCols = `kid, algorithm, state, private, public, created_at, activated_at, retired_at, remove_at`

// listKeys reads every key, oldest first.
func listKeys(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) ([]storage.Key, error) {
	rows, err := q.Query(ctx, `SELECT `+keyCols+` FROM keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Key, error) {
		var k storage.Key
		var state string
		err := row.Scan(&k.ID, &k.Algorithm, &state, &k.Private, &k.Public, sqlcol.Time(&k.CreatedAt),
			sqlcol.Time(&k.ActivatedAt), sqlcol.Time(&k.RetiredAt), sqlcol.Time(&k.RemoveAt))
		k.State = storage.KeyState(state)
		return k, err
	})
}

// ListKeys implements storage.KeyStore. Keys come oldest first.
func (db *DB) ListKeys(ctx context.Context) ([]storage.Key, error) {
	ks, err := listKeys(ctx, db.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return ks, nil
}

// UpdateKeys implements storage.KeyStore.
//
// The transaction takes the lockKeys advisory lock before it reads the
// current set, and holds it until it commits the new one: another
// UpdateKeys, in this process or another on the same database, waits for
// it and then (READ COMMITTED: each statement sees the last commit) reads
// what it committed. fn runs under that lock and holds up every other key
// update meanwhile; generate keys before calling UpdateKeys, not inside fn.
func (db *DB) UpdateKeys(ctx context.Context, fn func(current []storage.Key) ([]storage.Key, error)) error {
	var fnErr error
	err := db.locked(ctx, lockKeys, func(tx pgx.Tx) error {
		fnErr = nil
		current, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		next, err := fn(current)
		if err != nil {
			fnErr = err
			return err
		}
		active := 0
		for _, k := range next {
			if k.State == storage.KeyActive {
				active++
			}
		}
		if active > 1 {
			return fmt.Errorf("%d keys in state %q, at most one allowed", active, storage.KeyActive)
		}
		// Replacing the whole set inside the transaction is the simplest
		// way to honour "missing keys are deleted", and it cannot trip the
		// one-active index halfway through a promotion.
		if _, err := tx.Exec(ctx, `DELETE FROM keys`); err != nil {
			return err
		}
		for _, k := range next {
			_, err := tx.Exec(ctx, `INSERT INTO keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				k.ID, k.Algorithm, string(k.State), nonNil(k.Private), nonNil(k.Public), sqlcol.TimeArg(k.CreatedAt),
				sqlcol.TimeArg(k.ActivatedAt), sqlcol.TimeArg(k.RetiredAt), sqlcol.TimeArg(k.RemoveAt))
			if err != nil {
				return fmt.Errorf("key %q: %w", k.ID, mapErr(err))
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("postgres: update keys: %w", err)
	}
	return nil
}

// nonNil stores a nil key part as an empty value (the columns are NOT NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
