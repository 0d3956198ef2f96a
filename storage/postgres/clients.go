package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const clientCols = `id, name, public, secret_hash, grants, scopes, redirect_uris, post_logout_redirect_uris, created_at, updated_at`

// listCol scans a JSON array of strings.
type listCol struct{ p *[]string }

// Scan implements sql.Scanner.
func (c listCol) Scan(src any) error {
	s, ok := src.(string)
	if !ok {
		return fmt.Errorf("list column holds %T", src)
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*c.p = l
	return nil
}

// listArg is a list as a column value: a JSON array, [] when empty.
func listArg(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// scanClient reads one row of clientCols.
func scanClient(row rowScanner) (storage.Client, error) {
	var c storage.Client
	err := row.Scan(&c.ID, &c.Name, &c.Public, &c.SecretHash, listCol{&c.Grants}, listCol{&c.Scopes},
		listCol{&c.RedirectURIs}, listCol{&c.PostLogoutRedirectURIs}, sqlcol.Time(&c.CreatedAt), sqlcol.Time(&c.UpdatedAt))
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	return c, err
}

// clientArgs are the values of clientCols for c.
func clientArgs(c storage.Client) []any {
	return []any{c.ID, c.Name, c.Public, sqlcol.BlobArg(c.SecretHash), listArg(c.Grants), listArg(c.Scopes),
		listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs), sqlcol.TimeArg(c.CreatedAt), sqlcol.TimeArg(c.UpdatedAt)}
}

// CreateClient implements storage.ClientStore.
func (db *DB) CreateClient(ctx context.Context, c storage.Client) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (`+clientCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, clientArgs(c)...)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	return nil
}

// GetClient implements storage.ClientStore.
func (db *DB) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(db.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return storage.Client{}, fmt.Errorf("postgres: get client: %w", notFound(err))
	}
	return c, nil
}

// ListClients implements storage.ClientStore.
func (db *DB) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Client, error) { return scanClient(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	return cs, nil
}

// UpdateClient implements storage.ClientStore. fn runs inside the
// transaction, with the row locked, and may run again should the
// transaction be retried: it must be quick and assign afresh.
func (db *DB) UpdateClient(ctx context.Context, id string, now time.Time, fn func(*storage.Client) error) (storage.Client, error) {
	var (
		updated storage.Client
		fnErr   error
	)
	err := db.write(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		old, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err)
		}
		c := old
		if fnErr = fn(&c); fnErr != nil {
			return fnErr
		}
		c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, now
		a := clientArgs(c)
		_, err = tx.Exec(ctx, `UPDATE clients SET name = $1, public = $2, secret_hash = $3, grants = $4, scopes = $5,
			redirect_uris = $6, post_logout_redirect_uris = $7, updated_at = $8 WHERE id = $9`,
			a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[9], old.ID)
		if err != nil {
			return err
		}
		updated, err = scanClient(tx.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, old.ID))
		return err
	})
	if fnErr != nil {
		return storage.Client{}, fnErr
	}
	if err != nil {
		return storage.Client{}, fmt.Errorf("postgres: update client: %w", err)
	}
	return updated, nil
}

// DeleteClient implements storage.ClientStore.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		return oneRow(tag)
	})
	if err != nil {
		return fmt.Errorf("postgres: delete client: %w", err)
	}
	return nil
}
