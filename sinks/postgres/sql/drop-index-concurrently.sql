-- Drops an index left invalid by a failed concurrent build, without blocking writers. CONCURRENTLY cannot
-- run inside a transaction block.
DROP INDEX CONCURRENTLY IF EXISTS $INDEX
