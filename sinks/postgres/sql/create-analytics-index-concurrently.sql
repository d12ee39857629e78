-- The same index built without blocking writes, for a table that may already hold data.
CREATE INDEX CONCURRENTLY IF NOT EXISTS $INDEX ON $TABLE ($COLUMN)
