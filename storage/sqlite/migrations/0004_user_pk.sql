-- 0004: an integer primary key for every user, Django's auth_user.id.
--
-- Django-era clients and resource servers identify a user by this number
-- (the "pk" of django-rest-auth, the user_id of djangorestframework-jwt);
-- `authd users import` keeps it from the dump, and a user created by authd
-- gets the highest one plus one.
--
-- SQLite cannot add a UNIQUE or NOT NULL column to a table that has rows,
-- and rebuilding users would cascade deletes to every child table, so the
-- column is nullable, unique by an index, and kept set by triggers.

ALTER TABLE users ADD COLUMN pk INTEGER CHECK (pk > 0);

-- Existing users are numbered 1, 2, 3… in the order they joined (created_at,
-- which an import sets to Django's date_joined), then in the order they were
-- inserted.
UPDATE users SET pk = numbered.n
	FROM (SELECT id, row_number() OVER (ORDER BY created_at IS NULL, created_at, rowid) AS n FROM users) AS numbered
	WHERE numbered.id = users.id;

-- GetUserByPK, and the max(pk) that numbers a new user.
CREATE UNIQUE INDEX users_pk ON users (pk);

-- Every user has a pk, and it never changes: it is what other systems keep.
CREATE TRIGGER users_pk_required BEFORE INSERT ON users WHEN NEW.pk IS NULL
BEGIN
	SELECT RAISE(ABORT, 'users.pk is required');
END;

CREATE TRIGGER users_pk_fixed BEFORE UPDATE OF pk ON users WHEN NEW.pk IS NOT OLD.pk
BEGIN
	SELECT RAISE(ABORT, 'users.pk never changes');
END;
