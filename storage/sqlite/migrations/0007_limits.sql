-- 0007: the counters of the abuse limits (package throttle), so that every
-- process on the database counts against the same limits. Keys are opaque
-- (the server namespaces and hashes them); expires_at is when a row can
-- no longer matter, and DeleteExpired removes it then.

-- Failed logins per key: a key with locked_until after now must wait.
CREATE TABLE limit_failures (
	key          TEXT    NOT NULL PRIMARY KEY CHECK (key <> ''),
	failures     INTEGER NOT NULL CHECK (failures >= 1),
	last_failure INTEGER NOT NULL,
	-- NULL while the key need not wait.
	locked_until INTEGER,
	expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX limit_failures_expires ON limit_failures (expires_at);

-- Events per key in a fixed window that ends at expires_at.
CREATE TABLE limit_windows (
	key        TEXT    NOT NULL PRIMARY KEY CHECK (key <> ''),
	started_at INTEGER NOT NULL,
	events     INTEGER NOT NULL CHECK (events >= 1),
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX limit_windows_expires ON limit_windows (expires_at);
