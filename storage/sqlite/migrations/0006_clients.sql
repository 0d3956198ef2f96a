-- 0006: OAuth clients registered at run time (the admin API, the CLI),
-- beside the read-only clients of the configuration file.
--
-- A client's secret is kept only as its SHA-256: client secrets are long
-- random strings, not passwords, so a fast hash is enough. Lists are JSON
-- arrays of strings.

CREATE TABLE clients (
	id                        TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
	name                      TEXT    NOT NULL DEFAULT '',
	public                    INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
	-- 32 bytes, NULL for a public client.
	secret_hash               BLOB    CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
	grants                    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(grants)),
	scopes                    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(scopes)),
	redirect_uris             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(redirect_uris)),
	post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(post_logout_redirect_uris)),
	created_at                INTEGER,
	updated_at                INTEGER
) STRICT;
