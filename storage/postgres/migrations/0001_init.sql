-- 0001: authd's schema on PostgreSQL: the tables and columns of the SQLite
-- backend's migrations, with PostgreSQL's types.
--
-- Times are bigint unix nanoseconds (UTC), NULL when not set, as in
-- SQLite: timestamptz keeps only microseconds, and storage promises
-- nanoseconds. Flags are boolean, binary values bytea. A child row that
-- cannot outlive its parent references it with ON DELETE CASCADE.
--
-- Constraint names are given explicitly: the backend reads them from a
-- unique violation to say which key of a user was taken.

CREATE TABLE users (
	id             text    NOT NULL CHECK (id <> ''),
	-- Django's auth_user.id for an imported user, the highest plus one for
	-- the others. It never changes (trigger below).
	pk             bigint  NOT NULL CHECK (pk > 0),
	username       text    NOT NULL,
	-- storage.UsernameKey(username): "Alice", "ALICE" and "Ａｌｉｃｅ" are one name.
	username_key   text    NOT NULL CHECK (username_key <> ''),
	-- NULL when the user has no email; UNIQUE lets any number of NULLs in.
	email          text,
	-- storage.EmailKey(email), NULL with email.
	email_key      text    CHECK (email_key <> ''),
	email_verified boolean NOT NULL DEFAULT false,
	password_hash  text    NOT NULL DEFAULT '',
	first_name     text    NOT NULL DEFAULT '',
	last_name      text    NOT NULL DEFAULT '',
	disabled       boolean NOT NULL DEFAULT false,
	created_at     bigint,
	updated_at     bigint,
	CONSTRAINT users_pkey PRIMARY KEY (id),
	CONSTRAINT users_pk_key UNIQUE (pk),
	CONSTRAINT users_username_key_key UNIQUE (username_key),
	CONSTRAINT users_email_key_key UNIQUE (email_key)
);

CREATE FUNCTION users_pk_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'users.pk never changes';
END
$$;

-- The pk is what other systems keep: it never changes.
CREATE TRIGGER users_pk_fixed BEFORE UPDATE OF pk ON users
	FOR EACH ROW WHEN (NEW.pk IS DISTINCT FROM OLD.pk) EXECUTE FUNCTION users_pk_fixed();

-- A session is a refresh-token family, and its row holds the whole state
-- of the family: the generation of the current token, the SHA-256 of that
-- token's random part, the family key that tags every token of the family
-- (package refresh), and the sealed replay of the last rotation. A
-- rotation is one conditional UPDATE of this row, so the database does not
-- grow with rotations. All refresh columns are NULL when the session has
-- no refresh tokens, and are set back to NULL when the session ends.
CREATE TABLE sessions (
	id                 text   NOT NULL PRIMARY KEY CHECK (id <> ''),
	user_id            text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id          text   NOT NULL,
	scope              text   NOT NULL DEFAULT '',
	auth_time          bigint,
	created_at         bigint,
	last_used_at       bigint,
	expires_at         bigint,
	-- NULL while the session lives.
	ended_at           bigint,
	user_agent         text   NOT NULL DEFAULT '',
	address            text   NOT NULL DEFAULT '',
	refresh_gen        bigint CHECK (refresh_gen >= 0),
	-- Hex SHA-256 of the random part of the current token.
	refresh_hash       text   CHECK (refresh_hash <> ''),
	-- NULL with a generation: a family migrated from the previous token
	-- format, until it first rotates.
	refresh_key        bytea,
	refresh_expires_at bigint,
	-- Sealed response of the last rotation, which spent generation
	-- replay_gen, for an idempotent retry; set to NULL once replay_until
	-- has passed.
	replay             bytea,
	replay_gen         bigint,
	replay_until       bigint
);

-- ListSessions, EndUserSessions, SetPassword, SetDisabled (and the cascade
-- from users): a user's sessions, newest first.
CREATE INDEX sessions_user_created ON sessions (user_id, created_at);
-- EndedSessions: sessions ended after a time.
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
-- DeleteExpired.
CREATE INDEX sessions_expires ON sessions (expires_at);
-- DeleteExpired: replay data whose grace has ended.
CREATE INDEX sessions_replay_until ON sessions (replay_until) WHERE replay IS NOT NULL;

-- Refresh tokens of the previous format carry no session id: the server
-- finds their family by hash here. A database copied from SQLite brings
-- those SQLite's upgrade kept; each row goes when its family first rotates
-- (or ends, or is deleted).
CREATE TABLE legacy_refresh_tokens (
	-- Hex SHA-256 of the whole token, as the previous format stored it.
	hash       text NOT NULL PRIMARY KEY CHECK (hash <> ''),
	session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);

-- Rotation, EndSession (and the cascade from sessions).
CREATE INDEX legacy_refresh_tokens_session ON legacy_refresh_tokens (session_id);

CREATE TABLE keys (
	-- RFC 7638 thumbprint of the public key.
	kid          text   NOT NULL PRIMARY KEY CHECK (kid <> ''),
	algorithm    text   NOT NULL,
	state        text   NOT NULL CHECK (state IN ('next', 'active', 'retired')),
	-- Sealed when an encryption key is configured; opaque here.
	private      bytea  NOT NULL,
	-- Public JWK as JSON.
	public       bytea  NOT NULL,
	created_at   bigint,
	activated_at bigint,
	retired_at   bigint,
	remove_at    bigint
);

-- At most one key signs.
CREATE UNIQUE INDEX keys_one_active ON keys (state) WHERE state = 'active';

CREATE TABLE revoked_jtis (
	jti text   NOT NULL PRIMARY KEY CHECK (jti <> ''),
	exp bigint NOT NULL
);

-- RevokedJTIs and DeleteExpired.
CREATE INDEX revoked_jtis_exp ON revoked_jtis (exp);

CREATE TABLE one_time_tokens (
	hash       text   NOT NULL PRIMARY KEY CHECK (hash <> ''),
	purpose    text   NOT NULL,
	user_id    text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- The address the token was sent to.
	email      text   NOT NULL DEFAULT '',
	created_at bigint,
	expires_at bigint,
	-- NULL until the token is consumed or superseded.
	used_at    bigint
);

-- CreateOneTimeToken (supersede older ones), CountOneTimeTokens, SetPassword
-- (and the cascade from users).
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose, created_at);
-- DeleteExpired.
CREATE INDEX one_time_tokens_expires ON one_time_tokens (expires_at);

-- Authorization codes of the hosted sign-in (RFC 6749 §4.1, RFC 7636). A
-- code lives 60 seconds. Redeeming it records the session it started, so
-- that a replayed code can end that session (RFC 6749 §4.1.2).
CREATE TABLE auth_codes (
	-- Hex SHA-256 of the code; the code itself is never stored.
	hash                  text   NOT NULL PRIMARY KEY CHECK (hash <> ''),
	client_id             text   NOT NULL,
	user_id               text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	redirect_uri          text   NOT NULL,
	scope                 text   NOT NULL DEFAULT '',
	nonce                 text   NOT NULL DEFAULT '',
	-- RFC 7636 §4.3; both '' when the client sent no challenge.
	code_challenge        text   NOT NULL DEFAULT '',
	code_challenge_method text   NOT NULL DEFAULT '',
	auth_time             bigint,
	created_at            bigint,
	expires_at            bigint NOT NULL,
	-- NULL until the code is redeemed.
	redeemed_at           bigint,
	-- The session the redemption started. No foreign key: housekeeping may
	-- delete an expired session before the code, and a code outliving its
	-- session harms nothing.
	session_id            text,
	-- The browser sign-in session that issued the code; NULL for codes
	-- issued before this was recorded. A code is redeemable only while it
	-- lives.
	sign_in_session_id    text
);

-- DeleteExpired.
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
-- EndUserSessions and the other bulk ends: a user's unredeemed codes (and
-- the cascade from users).
CREATE INDEX auth_codes_user ON auth_codes (user_id);

-- One row that the readiness probe rewrites, to prove the database still
-- takes writes (DB.ProbeWrite).
CREATE TABLE health (
	id        integer NOT NULL PRIMARY KEY CHECK (id = 1),
	-- Unix nanoseconds of the last successful probe.
	probed_at bigint  NOT NULL
);
