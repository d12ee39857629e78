-- The ledger that makes redelivery harmless: a batch's rows and its ledger row commit together,
-- so a batch id already present here was fully written before.
CREATE TABLE IF NOT EXISTS sluice_applied_batches (
  sink       text        NOT NULL,
  batch_id   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sink, batch_id)
)
