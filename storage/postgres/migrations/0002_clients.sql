-- 0002: OAuth clients registered at run time (the admin API, the CLI),
-- beside the read-only clients of the configuration file: the table of the
-- SQLite backend's migration 0006, with PostgreSQL's types.
--
-- A client's secret is kept only as its SHA-256: client secrets are long
-- random strings, not passwords, so a fast hash is enough. Lists are JSON
-- arrays of strings, kept as text so that both backends store the same
-- values.

CREATE TABLE clients (
	id                        text    NOT NULL PRIMARY KEY CHECK (id <> ''),
	name                      text    NOT NULL DEFAULT '',
	public                    boolean NOT NULL DEFAULT false,
	-- 32 bytes, NULL for a public client.
	secret_hash               bytea   CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
	grants                    text    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(grants::jsonb) = 'array'),
	scopes                    text    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes::jsonb) = 'array'),
	redirect_uris             text    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(redirect_uris::jsonb) = 'array'),
	post_logout_redirect_uris text    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(post_logout_redirect_uris::jsonb) = 'array'),
	created_at                bigint,
	updated_at                bigint
);
