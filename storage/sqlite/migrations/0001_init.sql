-- 0001: authd's initial schema.
--
-- Times are INTEGER unix nanoseconds (UTC), NULL when not set. Tables are
-- STRICT so a value of the wrong type is an error rather than silently kept.
-- A child row that cannot outlive its parent references it with ON DELETE
-- CASCADE (foreign_keys is ON on every connection).

CREATE TABLE users (
	id             TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
	username       TEXT    NOT NULL,
	-- storage.UsernameKey(username): "Alice", "ALICE" and "Ａｌｉｃｅ" are one name.
	username_key   TEXT    NOT NULL UNIQUE CHECK (username_key <> ''),
	-- NULL when the user has no email; UNIQUE lets any number of NULLs in.
	email          TEXT,
	-- storage.EmailKey(email), NULL with email.
	email_key      TEXT    UNIQUE CHECK (email_key <> ''),
	email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
	password_hash  TEXT    NOT NULL DEFAULT '',
	first_name     TEXT    NOT NULL DEFAULT '',
	last_name      TEXT    NOT NULL DEFAULT '',
	disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at     INTEGER,
	updated_at     INTEGER
) STRICT;

CREATE TABLE sessions (
	id           TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id    TEXT    NOT NULL,
	scope        TEXT    NOT NULL DEFAULT '',
	auth_time    INTEGER,
	created_at   INTEGER,
	last_used_at INTEGER,
	expires_at   INTEGER,
	-- NULL while the session lives.
	ended_at     INTEGER,
	user_agent   TEXT    NOT NULL DEFAULT '',
	address      TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ListSessions, EndUserSessions, SetPassword, SetDisabled (and the cascade
-- from users): a user's sessions, newest first.
CREATE INDEX sessions_user_created ON sessions (user_id, created_at);
-- EndedSessions: sessions ended after a time.
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
-- DeleteExpired.
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
	-- Hex SHA-256 of the token; the token itself is never stored.
	hash         TEXT    NOT NULL PRIMARY KEY CHECK (hash <> ''),
	-- The family. A token's user is its session's user, so the session's
	-- cascade from users covers it; user_id has no foreign key of its own to
	-- keep the insert on the refresh hot path to one parent lookup.
	session_id   TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	client_id    TEXT    NOT NULL,
	user_id      TEXT    NOT NULL,
	scope        TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER,
	expires_at   INTEGER,
	-- NULL until the token is rotated.
	spent_at     INTEGER,
	-- Sealed response of the rotation that spent the token, for an
	-- idempotent retry; set to NULL once replay_until has passed.
	replay       BLOB,
	replay_until INTEGER
) STRICT;

-- EndSession, EndUserSessions, DeleteExpired (and the cascade from sessions).
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
-- DeleteExpired.
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
-- DeleteExpired: replay data whose grace has ended.
CREATE INDEX refresh_tokens_replay_until ON refresh_tokens (replay_until) WHERE replay IS NOT NULL;

CREATE TABLE keys (
	-- RFC 7638 thumbprint of the public key.
	kid          TEXT    NOT NULL PRIMARY KEY CHECK (kid <> ''),
	algorithm    TEXT    NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('next', 'active', 'retired')),
	-- Sealed when an encryption key is configured; opaque here.
	private      BLOB    NOT NULL,
	-- Public JWK as JSON.
	public       BLOB    NOT NULL,
	created_at   INTEGER,
	activated_at INTEGER,
	retired_at   INTEGER,
	remove_at    INTEGER
) STRICT;

-- At most one key signs.
CREATE UNIQUE INDEX keys_one_active ON keys (state) WHERE state = 'active';

CREATE TABLE revoked_jtis (
	jti TEXT    NOT NULL PRIMARY KEY CHECK (jti <> ''),
	exp INTEGER NOT NULL
) STRICT;

-- RevokedJTIs and DeleteExpired.
CREATE INDEX revoked_jtis_exp ON revoked_jtis (exp);

CREATE TABLE one_time_tokens (
	hash       TEXT    NOT NULL PRIMARY KEY CHECK (hash <> ''),
	purpose    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- The address the token was sent to.
	email      TEXT    NOT NULL DEFAULT '',
	created_at INTEGER,
	expires_at INTEGER,
	-- NULL until the token is consumed or superseded.
	used_at    INTEGER
) STRICT;

-- CreateOneTimeToken (supersede older ones), CountOneTimeTokens, SetPassword
-- (and the cascade from users).
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose, created_at);
-- DeleteExpired.
CREATE INDEX one_time_tokens_expires ON one_time_tokens (expires_at);
