-- The connection's staging table for aggregate rows, shaped like $TABLE (every aggregate table has the
-- same columns). Created in each write transaction, so it also works behind a transaction-pooling
-- PgBouncer; emptied at every commit, since temporary tables are never vacuumed.
CREATE TEMPORARY TABLE IF NOT EXISTS sluice_aggregate_stage (LIKE $TABLE) ON COMMIT DELETE ROWS
