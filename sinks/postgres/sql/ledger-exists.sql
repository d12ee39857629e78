-- Whether the applied-batches ledger has been created yet (a sink creates it when it first opens).
SELECT to_regclass('sluice_applied_batches') IS NOT NULL AS present
