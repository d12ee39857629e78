-- Returns a row only for the first transaction to record this batch; a concurrent one waits on the
-- primary key and then returns nothing.
INSERT INTO sluice_applied_batches (sink, batch_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING batch_id
