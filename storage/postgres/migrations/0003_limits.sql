-- 0003: the counters of the abuse limits (package throttle), so that every
-- instance on the database counts against the same limits. Keys are
-- opaque (the server namespaces and hashes them); expires_at is when a row
-- can no longer matter, and DeleteExpired removes it then.

-- Failed logins per key: a key with locked_until after now must wait.
CREATE TABLE limit_failures (
	key          text   NOT NULL PRIMARY KEY CHECK (key <> ''),
	failures     bigint NOT NULL CHECK (failures >= 1),
	last_failure bigint NOT NULL,
	-- NULL while the key need not wait.
	locked_until bigint,
	expires_at   bigint NOT NULL
);

CREATE INDEX limit_failures_expires ON limit_failures (expires_at);

-- Events per key in a fixed window that ends at expires_at.
CREATE TABLE limit_windows (
	key        text   NOT NULL PRIMARY KEY CHECK (key <> ''),
	started_at bigint NOT NULL,
	events     bigint NOT NULL CHECK (events >= 1),
	expires_at bigint NOT NULL
);

CREATE INDEX limit_windows_expires ON limit_windows (expires_at);
