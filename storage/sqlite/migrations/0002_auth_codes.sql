-- 0002: authorization codes of the hosted sign-in (RFC 6749 §4.1, RFC 7636).
--
-- A code lives 60 seconds. Redeeming it records the session it started, so
-- that a replayed code can end that session (RFC 6749 §4.1.2).

CREATE TABLE auth_codes (
	-- Hex SHA-256 of the code; the code itself is never stored.
	hash                  TEXT    NOT NULL PRIMARY KEY CHECK (hash <> ''),
	client_id             TEXT    NOT NULL,
	user_id               TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	redirect_uri          TEXT    NOT NULL,
	scope                 TEXT    NOT NULL DEFAULT '',
	nonce                 TEXT    NOT NULL DEFAULT '',
	-- RFC 7636 §4.3; both '' when the client sent no challenge.
	code_challenge        TEXT    NOT NULL DEFAULT '',
	code_challenge_method TEXT    NOT NULL DEFAULT '',
	auth_time             INTEGER,
	created_at            INTEGER,
	expires_at            INTEGER NOT NULL,
	-- NULL until the code is redeemed.
	redeemed_at           INTEGER,
	-- The session the redemption started. No foreign key: housekeeping may
	-- delete an expired session before the code, and a code outliving its
	-- session harms nothing.
	session_id            TEXT
) STRICT;

-- DeleteExpired.
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
