-- Empties the staging table between the chunks of one transaction.
DELETE FROM sluice_aggregate_stage
