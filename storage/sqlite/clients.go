package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const clientCols = `id, name, public, secret_hash, grants, scopes, redirect_uris, post_logout_redirect_uris, created_at, updated_at`

// listCol scans a JSON array of strings.
type listCol struct{ p *[]string }

// Scan implements sql.Scanner.
func (c listCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds %T", src)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
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
func scanClient(row interface{ Scan(...any) error }) (storage.Client, error) {
	var c storage.Client
	err := row.Scan(&c.ID, &c.Name, &c.Public, &c.SecretHash, listCol{&c.Grants}, listCol{&c.Scopes},
		listCol{&c.RedirectURIs}, listCol{&c.PostLogoutRedirectURIs}, sqlcol.Time(&c.CreatedAt), sqlcol.Time(&c.UpdatedAt))
	return c, err
}

// clientArgs are the values of clientCols for c.
func clientArgs(c storage.Client) []any {
	return []any{c.ID, c.Name, c.Public, sqlcol.BlobArg(c.SecretHash), listArg(c.Grants), listArg(c.Scopes),
		listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs), sqlcol.TimeArg(c.CreatedAt), sqlcol.TimeArg(c.UpdatedAt)}
}

// CreateClient implements storage.ClientStore.
func (db *DB) CreateClient(ctx context.Context, c storage.Client) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, clientArgs(c)...)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create client: %w", err)
	}
	return nil
}

// GetClient implements storage.ClientStore.
func (db *DB) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(db.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return storage.Client{}, fmt.Errorf("sqlite: get client: %w", notFound(err))
	}
	return c, nil
}

// ListClients implements storage.ClientStore.
func (db *DB) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	defer rows.Close()
	var out []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	return out, nil
}

// UpdateClient implements storage.ClientStore. fn runs inside the write
// transaction: it must be quick.
func (db *DB) UpdateClient(ctx context.Context, id string, now time.Time, fn func(*storage.Client) error) (storage.Client, error) {
	var (
		updated storage.Client
		fnErr   error
	)
	err := db.write(ctx, func(tx *sql.Tx) error {
		old, err := scanClient(tx.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
		if err != nil {
			return notFound(err)
		}
		c := old
		if fnErr = fn(&c); fnErr != nil {
			return fnErr
		}
		c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, now
		args := clientArgs(c)
		_, err = tx.ExecContext(ctx, `UPDATE clients SET name = ?, public = ?, secret_hash = ?, grants = ?, scopes = ?,
			redirect_uris = ?, post_logout_redirect_uris = ?, updated_at = ? WHERE id = ?`,
			args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[9], old.ID)
		if err != nil {
			return err
		}
		updated, err = scanClient(tx.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, old.ID))
		return err
	})
	if fnErr != nil {
		return storage.Client{}, fnErr
	}
	if err != nil {
		return storage.Client{}, fmt.Errorf("sqlite: update client: %w", err)
	}
	return updated, nil
}

// DeleteClient implements storage.ClientStore.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete client: %w", err)
	}
	return nil
}
