package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const keyCols = `kid, algorithm, state, private, public, created_at, activated_at, retired_at, remove_at`

// listKeys reads every key, oldest first.
func listKeys(ctx context.Context, q querier) ([]storage.Key, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+keyCols+` FROM keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ks []storage.Key
	for rows.Next() {
		var k storage.Key
		err := rows.Scan(&k.ID, &k.Algorithm, &k.State, &k.Private, &k.Public, sqlcol.Time(&k.CreatedAt),
			sqlcol.Time(&k.ActivatedAt), sqlcol.Time(&k.RetiredAt), sqlcol.Time(&k.RemoveAt))
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

// ListKeys implements storage.KeyStore. Keys come oldest first.
func (db *DB) ListKeys(ctx context.Context) ([]storage.Key, error) {
	ks, err := listKeys(ctx, db.r)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	return ks, nil
}

// UpdateKeys implements storage.KeyStore.
//
// The write transaction starts with BEGIN IMMEDIATE, so it holds the
// database's write lock from the read of the current set to the commit of the
// new one: another UpdateKeys, in this process or another, waits for it and
// then reads what it committed. fn runs under that lock and holds up every
// writer meanwhile; generate keys before calling UpdateKeys, not inside fn.
func (db *DB) UpdateKeys(ctx context.Context, fn func(current []storage.Key) ([]storage.Key, error)) error {
	var fnErr error
	err := db.write(ctx, func(tx *sql.Tx) error {
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
		if _, err := tx.ExecContext(ctx, `DELETE FROM keys`); err != nil {
			return err
		}
		for _, k := range next {
			_, err := tx.ExecContext(ctx, `INSERT INTO keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
		return fmt.Errorf("sqlite: update keys: %w", err)
	}
	return nil
}

// nonNil stores a nil key part as an empty blob (the columns are NOT NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
