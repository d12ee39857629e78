-- Ledger rows only need to outlive any possible redelivery of their batch.
DELETE FROM sluice_applied_batches WHERE applied_at < now() - make_interval(hours => $1)
