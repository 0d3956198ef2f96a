package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

const authCodeCols = `hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
	auth_time, created_at, expires_at, redeemed_at, session_id`

// scanAuthCode reads one row of authCodeCols.
func scanAuthCode(row interface{ Scan(...any) error }) (storage.AuthCode, error) {
	var c storage.AuthCode
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, timeCol{&c.AuthTime}, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt},
		timeCol{&c.RedeemedAt}, textCol{&c.SessionID})
	return c, err
}

// CreateAuthCode implements storage.AuthCodeStore.
func (db *DB) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	if err := requireTime("ExpiresAt", c.ExpiresAt); err != nil {
		return fmt.Errorf("sqlite: create authorization code: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge, c.CodeChallengeMethod,
			timeArg(c.AuthTime), timeArg(c.CreatedAt), timeArg(c.ExpiresAt), timeArg(c.RedeemedAt), textArg(c.SessionID))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create authorization code: %w", err)
	}
	return nil
}

// GetAuthCode implements storage.AuthCodeStore.
func (db *DB) GetAuthCode(ctx context.Context, hash string) (storage.AuthCode, error) {
	c, err := scanAuthCode(db.r.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, hash))
	if err != nil {
		return storage.AuthCode{}, fmt.Errorf("sqlite: get authorization code: %w", notFound(err))
	}
	return c, nil
}

// redeemAuthCode is the conditional update that picks the one winner of
// racing redemptions; BEGIN IMMEDIATE runs the racers one after another, so
// the second finds redeemed_at set.
const redeemAuthCode = `UPDATE auth_codes SET redeemed_at = ?, session_id = ?
	WHERE hash = ? AND redeemed_at IS NULL AND expires_at > ?
	RETURNING ` + authCodeCols

// RedeemAuthCode implements storage.AuthCodeStore.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, sess storage.Session, first *storage.RefreshToken, now time.Time) (storage.AuthCode, error) {
	if err := requireTime("now", now); err != nil {
		return storage.AuthCode{}, fmt.Errorf("sqlite: redeem authorization code: %w", err)
	}
	if sess.ID == "" {
		return storage.AuthCode{}, errors.New("sqlite: redeem authorization code: the session has no id")
	}
	var c storage.AuthCode
	var replayed bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		replayed = false
		var err error
		c, err = scanAuthCode(tx.QueryRowContext(ctx, redeemAuthCode, timeArg(now), sess.ID, hash, nanos(now)))
		if errors.Is(err, sql.ErrNoRows) {
			c, err = scanAuthCode(tx.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, hash))
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
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = coalesce(ended_at, ?) WHERE id = ?`,
				timeArg(now), c.SessionID); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE session_id = ?`, c.SessionID)
			return err
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sess.ID, sess.UserID, sess.ClientID, sess.Scope, timeArg(sess.AuthTime), timeArg(sess.CreatedAt),
			timeArg(sess.LastUsedAt), timeArg(sess.ExpiresAt), timeArg(sess.EndedAt), sess.UserAgent, sess.Address)
		if err != nil {
			return mapErr(err)
		}
		if first == nil {
			return nil
		}
		return insertRefreshToken(ctx, tx, *first)
	})
	switch {
	case err != nil:
		return storage.AuthCode{}, fmt.Errorf("sqlite: redeem authorization code: %w", err)
	case replayed:
		return c, fmt.Errorf("sqlite: redeem authorization code: %w", storage.ErrSpent)
	}
	return c, nil
}
