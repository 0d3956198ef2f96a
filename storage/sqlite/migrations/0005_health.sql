-- 0005: one row that the readiness probe rewrites, to prove the database
-- still takes writes (DB.ProbeWrite).

CREATE TABLE health (
	id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	-- Unix nanoseconds of the last successful probe.
	probed_at INTEGER NOT NULL
) STRICT;
