-- 0004: an empty stand-in that keeps the migration numbers without a gap
-- on this branch, where 0005 is written before the real 0004. Delete this
-- file when the real 0004 lands beside it.
SELECT 1;
