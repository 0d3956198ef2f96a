package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
)

const authCodeCols = `hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
	auth_time, created_at, expires_at, redeemed_at, session_id`

// scanAuthCode reads one row of authCodeCols.
func scanAuthCode(row rowScanner) (storage.AuthCode, error) {
	var c storage.AuthCode
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, timeCol{&c.AuthTime}, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt},
		timeCol{&c.RedeemedAt}, textCol{&c.SessionID})
	return c, err
}

// CreateAuthCode implements storage.AuthCodeStore.
func (db *DB) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	if err := requireTime("ExpiresAt", c.ExpiresAt); err != nil {
		return fmt.Errorf("postgres: create authorization code: %w", err)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO auth_codes (`+authCodeCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge, c.CodeChallengeMethod,
			timeArg(c.AuthTime), timeArg(c.CreatedAt), timeArg(c.ExpiresAt), timeArg(c.RedeemedAt), textArg(c.SessionID))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("postgres: create authorization code: %w", err)
	}
	return nil
}

// GetAuthCode implements storage.AuthCodeStore.
func (db *DB) GetAuthCode(ctx context.Context, hash string) (storage.AuthCode, error) {
	c, err := scanAuthCode(db.pool.QueryRow(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = $1`, hash))
	if err != nil {
		return storage.AuthCode{}, fmt.Errorf("postgres: get authorization code: %w", notFound(err))
	}
	return c, nil
}

// redeemAuthCode is the conditional update that picks the one winner of
// racing redemptions; a racer waits for the winner's commit, checks again,
// finds redeemed_at set and changes nothing. Its next statements read what
// the winner committed, the session included.
const redeemAuthCode = `UPDATE auth_codes SET redeemed_at = $1, session_id = $2
	WHERE hash = $3 AND redeemed_at IS NULL AND expires_at > $4
	RETURNING ` + authCodeCols

// RedeemAuthCode implements storage.AuthCodeStore.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, sess storage.Session, first *storage.RefreshToken, now time.Time) (storage.AuthCode, error) {
	if err := requireTime("now", now); err != nil {
		return storage.AuthCode{}, fmt.Errorf("postgres: redeem authorization code: %w", err)
	}
	if sess.ID == "" {
		return storage.AuthCode{}, errors.New("postgres: redeem authorization code: the session has no id")
	}
	var c storage.AuthCode
	var replayed bool
	err := db.write(ctx, func(tx pgx.Tx) error {
		replayed = false
		var err error
		c, err = scanAuthCode(tx.QueryRow(ctx, redeemAuthCode, timeArg(now), sess.ID, hash, nanos(now)))
		if errors.Is(err, pgx.ErrNoRows) {
			c, err = scanAuthCode(tx.QueryRow(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = $1`, hash))
			switch {
			case err != nil:
				return notFound(err)
			case c.RedeemedAt.IsZero():
				return storage.ErrNotFound // expired, never redeemed
			}
			// A replay: revoke what the first redemption issued, and commit
			// that although the call fails.
			replayed = true
			if c.SessionID == "" {
				return nil
			}
			if _, err := tx.Exec(ctx, `UPDATE sessions SET ended_at = coalesce(ended_at, $1) WHERE id = $2`,
				timeArg(now), c.SessionID); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE session_id = $1`, c.SessionID)
			return err
		}
		if err != nil {
			return err
		}
		if err := insertSession(ctx, tx, sess); err != nil {
			return err
		}
		if first == nil {
			return nil
		}
		return insertRefreshToken(ctx, tx, *first)
	})
	switch {
	case err != nil:
		return storage.AuthCode{}, fmt.Errorf("postgres: redeem authorization code: %w", err)
	case replayed:
		return c, fmt.Errorf("postgres: redeem authorization code: %w", storage.ErrSpent)
	}
	return c, nil
}
