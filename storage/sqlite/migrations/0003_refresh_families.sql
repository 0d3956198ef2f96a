-- 0003: refresh-token families in constant space; authorization codes bound
-- to the sign-in session that issued them.
--
-- A session is a refresh-token family, and its row now holds the whole
-- state of the family: the generation of the current token, the SHA-256 of
-- that token's random part, the family key that tags every token of the
-- family (package refresh), and the sealed replay of the last rotation. A
-- rotation is one conditional UPDATE of this row; nothing is kept per
-- rotation, so the database no longer grows with rotations.
--
-- All refresh columns are NULL when the session has no refresh tokens, and
-- are set back to NULL when the session ends.

ALTER TABLE sessions ADD COLUMN refresh_gen INTEGER CHECK (refresh_gen >= 0);
-- Hex SHA-256 of the random part of the current token.
ALTER TABLE sessions ADD COLUMN refresh_hash TEXT CHECK (refresh_hash <> '');
-- NULL with a generation: a family migrated below, until it first rotates.
ALTER TABLE sessions ADD COLUMN refresh_key BLOB;
ALTER TABLE sessions ADD COLUMN refresh_expires_at INTEGER;
-- Sealed response of the last rotation, which spent generation replay_gen,
-- for an idempotent retry; set to NULL once replay_until has passed.
ALTER TABLE sessions ADD COLUMN replay BLOB;
ALTER TABLE sessions ADD COLUMN replay_gen INTEGER;
ALTER TABLE sessions ADD COLUMN replay_until INTEGER;

-- DeleteExpired: replay data whose grace has ended.
CREATE INDEX sessions_replay_until ON sessions (replay_until) WHERE replay IS NOT NULL;

-- Refresh tokens of the previous format carry no session id: the server
-- finds their family by hash here. Only the tokens live at the upgrade are
-- kept, one per family, and each row goes when its family first rotates
-- (or ends, or is deleted).
CREATE TABLE legacy_refresh_tokens (
	-- Hex SHA-256 of the whole token, as the previous release stored it.
	hash       TEXT NOT NULL PRIMARY KEY CHECK (hash <> ''),
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Rotation, EndSession (and the cascade from sessions).
CREATE INDEX legacy_refresh_tokens_session ON legacy_refresh_tokens (session_id);

-- The newest live, unexpired token of each live, unexpired session becomes
-- the current token of its family, at generation 0 and without a family
-- key; its first rotation gives the family a key and v2 tokens.
--
-- Spent tokens are dropped: presenting one after the upgrade is plainly
-- invalid, where the previous release would have ended its family as
-- reuse. Their replay data goes with them.
UPDATE sessions
SET refresh_gen = 0, refresh_hash = t.hash, refresh_expires_at = t.expires_at
FROM (
	SELECT session_id, hash, expires_at,
		row_number() OVER (PARTITION BY session_id ORDER BY created_at DESC, hash) AS n
	FROM refresh_tokens
	WHERE spent_at IS NULL AND expires_at > unixepoch() * 1000000000
) AS t
WHERE t.n = 1 AND t.session_id = sessions.id AND sessions.ended_at IS NULL
	AND (sessions.expires_at IS NULL OR sessions.expires_at > unixepoch() * 1000000000);

INSERT INTO legacy_refresh_tokens (hash, session_id)
SELECT refresh_hash, id FROM sessions WHERE refresh_hash IS NOT NULL;

DROP TABLE refresh_tokens;

-- The browser sign-in session that issued the code; NULL for codes issued
-- before this column existed. A code is redeemable only while it lives.
ALTER TABLE auth_codes ADD COLUMN sign_in_session_id TEXT;

-- EndUserSessions and the other bulk ends: a user's unredeemed codes (and
-- the cascade from users).
CREATE INDEX auth_codes_user ON auth_codes (user_id);
