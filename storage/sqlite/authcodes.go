package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

const authCodeCols = `hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
	auth_time, created_at, expires_at, redeemed_at, session_id, sign_in_session_id`

// scanAuthCode reads one row of authCodeCols.
func scanAuthCode(row interface{ Scan(...any) error }) (storage.AuthCode, error) {
	var c storage.AuthCode
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, sqlcol.Time(&c.AuthTime), sqlcol.Time(&c.CreatedAt), sqlcol.Time(&c.ExpiresAt),
		sqlcol.Time(&c.RedeemedAt), sqlcol.Text(&c.SessionID), sqlcol.Text(&c.SignInSessionID))
	return c, err
}

// CreateAuthCode implements storage.AuthCodeStore.
func (db *DB) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	if err := requireTime("ExpiresAt", c.ExpiresAt); err != nil {
		return fmt.Errorf("sqlite: create authorization code: %w", err)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge, c.CodeChallengeMethod,
			sqlcol.TimeArg(c.AuthTime), sqlcol.TimeArg(c.CreatedAt), sqlcol.TimeArg(c.ExpiresAt), sqlcol.TimeArg(c.RedeemedAt), sqlcol.TextArg(c.SessionID),
			sqlcol.TextArg(c.SignInSessionID))
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
// the second finds redeemed_at set. A code bound to a sign-in session is
// redeemable only while that session lives.
const redeemAuthCode = `UPDATE auth_codes SET redeemed_at = ?1, session_id = ?2
	WHERE hash = ?3 AND redeemed_at IS NULL AND expires_at > ?4
	AND (sign_in_session_id IS NULL OR EXISTS (SELECT 1 FROM sessions s
		WHERE s.id = auth_codes.sign_in_session_id AND s.ended_at IS NULL
		AND (s.expires_at IS NULL OR s.expires_at > ?4)))
	RETURNING ` + authCodeCols

// RedeemAuthCode implements storage.AuthCodeStore.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, sess storage.Session, now time.Time) (storage.AuthCode, error) {
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
		c, err = scanAuthCode(tx.QueryRowContext(ctx, redeemAuthCode, sqlcol.TimeArg(now), sess.ID, hash, sqlcol.Nanos(now)))
		if errors.Is(err, sql.ErrNoRows) {
			c, err = scanAuthCode(tx.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, hash))
			switch {
			case err != nil:
				return notFound(err)
			case c.RedeemedAt.IsZero():
				return storage.ErrNotFound // expired or its sign-in ended, never redeemed
			}
			// A replay: revoke what the first redemption issued, and commit
			// that although the call fails.
			replayed = true
			if c.SessionID == "" {
				return nil
			}
			_, err := endSession(ctx, tx, c.SessionID, now)
			return err
		}
		if err != nil {
			return err
		}
		return insertSession(ctx, tx, sess)
	})
	switch {
	case err != nil:
		return storage.AuthCode{}, fmt.Errorf("sqlite: redeem authorization code: %w", err)
	case replayed:
		return c, fmt.Errorf("sqlite: redeem authorization code: %w", storage.ErrSpent)
	}
	return c, nil
}
