-- Whether an index of this name exists and is valid, and whether an index is being built on its table
-- right now (another worker's CREATE INDEX CONCURRENTLY, whose index is invalid until it finishes).
SELECT i.indisvalid AS valid,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.relid = i.indrelid) AS building
FROM pg_index i
WHERE i.indexrelid = to_regclass($1)
