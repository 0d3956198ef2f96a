package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// rotateRefresh is the conditional update that picks the one winner of
// racing rotations: only a call that finds the family live at fromGen (?1)
// changes the row. The write lock taken by BEGIN IMMEDIATE makes the racers
// run it one after another, so the second finds the generation moved on.
// The key (?3) is written only into a family that has none, and such a
// family is not rotated without one.
const rotateRefresh = `UPDATE sessions SET refresh_gen = ?1 + 1, refresh_hash = ?2,
	refresh_key = coalesce(refresh_key, ?3), refresh_expires_at = ?4, last_used_at = ?5,
	replay = ?6, replay_gen = CASE WHEN ?6 IS NULL THEN NULL ELSE ?1 END, replay_until = ?7
	WHERE id = ?8 AND refresh_gen = ?1 AND ended_at IS NULL
	AND (refresh_key IS NOT NULL OR ?3 IS NOT NULL)`

// RotateRefresh implements storage.RefreshFamilyStore.
func (db *DB) RotateRefresh(ctx context.Context, sid string, fromGen uint64, next storage.RefreshRotation, now time.Time) error {
	if err := db.rotateRefresh(ctx, sid, fromGen, next, now); err != nil {
		return fmt.Errorf("sqlite: rotate refresh family: %w", err)
	}
	return nil
}

func (db *DB) rotateRefresh(ctx context.Context, sid string, fromGen uint64, next storage.RefreshRotation, now time.Time) error {
	if err := requireTime("now", now); err != nil {
		return err
	}
	if next.Hash == "" {
		return errors.New("the rotation has no hash")
	}
	from, err := genArg(fromGen)
	if err == nil {
		_, err = genArg(fromGen + 1)
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := db.wStmts.get(ctx, rotateRefresh)
	if err != nil {
		return err
	}
	replay, replayUntil := sqlcol.BlobArg(next.Replay), sqlcol.TimeArg(next.ReplayUntil)
	if replay == nil {
		replayUntil = nil
	}
	// Rotations are committed in groups (batch.go): this one returns when
	// the transaction holding it has committed.
	return db.submit(func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, from, next.Hash, sqlcol.BlobArg(next.Key),
			sqlcol.TimeArg(next.ExpiresAt), sqlcol.TimeArg(now), replay, replayUntil, sid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return whyNotRotated(ctx, tx, sid, fromGen)
		}
		if fromGen > 0 {
			return nil
		}
		// Only a family migrated from the previous format sits at
		// generation 0 with a legacy token; it leaves that format now.
		_, err = tx.ExecContext(ctx, `DELETE FROM legacy_refresh_tokens WHERE session_id = ?`, sid)
		return err
	})
}

// whyNotRotated tells, for a family the rotation did not change, whether
// the session is unknown, ended or without a family, or the generation is
// one the family has not reached (storage.ErrNotFound), or the family
// already moved past fromGen (storage.ErrSpent).
func whyNotRotated(ctx context.Context, tx *sql.Tx, sid string, fromGen uint64) error {
	var live, keyless bool
	var gen sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT ended_at IS NULL, refresh_gen, refresh_key IS NULL
		FROM sessions WHERE id = ?`, sid).Scan(&live, &gen, &keyless)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case err != nil:
		return err
	case !live || !gen.Valid:
		return storage.ErrNotFound
	case uint64(gen.Int64) > fromGen:
		return storage.ErrSpent
	case uint64(gen.Int64) < fromGen:
		return storage.ErrNotFound
	case keyless:
		return errors.New("a family without a key must be given one when it rotates")
	default:
		// The update found the family live at fromGen a moment ago, under
		// the same write lock: this cannot happen.
		return fmt.Errorf("family live at generation %d, yet not rotated", fromGen)
	}
}

// LegacyRefreshSession implements storage.RefreshFamilyStore.
func (db *DB) LegacyRefreshSession(ctx context.Context, hash string) (string, error) {
	var sid string
	err := db.r.QueryRowContext(ctx, `SELECT session_id FROM legacy_refresh_tokens WHERE hash = ?`, hash).Scan(&sid)
	if err != nil {
		return "", fmt.Errorf("sqlite: legacy refresh session: %w", notFound(err))
	}
	return sid, nil
}
