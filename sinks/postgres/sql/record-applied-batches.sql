-- Returns the batch ids ($2, sorted by the caller so that concurrent writers lock them in one order)
-- that no transaction recorded before; a concurrent one holding an id waits on the primary key and
-- then gets nothing for it.
INSERT INTO sluice_applied_batches (sink, batch_id)
SELECT $1, batch_id FROM unnest($2::text[]) AS batch_id
ON CONFLICT DO NOTHING
RETURNING batch_id
