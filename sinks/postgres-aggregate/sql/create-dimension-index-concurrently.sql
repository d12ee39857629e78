-- The same index on the long-lived unsharded table, built without blocking writers. CONCURRENTLY cannot
-- run inside a transaction block.
CREATE INDEX CONCURRENTLY IF NOT EXISTS $INDEX ON $TABLE ($COLUMNS)
