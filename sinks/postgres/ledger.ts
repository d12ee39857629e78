import type { Pool, PoolClient } from 'pg';
import { sqlStatement } from './sql.js';
import { inTransaction, ROLL_BACK } from './transaction.js';
import { creatingTable } from './table-creation.js';
import { cancelOnAbort } from './cancel.js';

const CREATE_APPLIED_BATCHES = sqlStatement(import.meta.url, 'create-applied-batches');
const RECORD_APPLIED_BATCHES = sqlStatement(import.meta.url, 'record-applied-batches');
const PRUNE_APPLIED_BATCHES = sqlStatement(import.meta.url, 'prune-applied-batches');
const LEDGER_EXISTS = sqlStatement(import.meta.url, 'ledger-exists');
/** Creates the ledger unless it exists; every sink of every worker does so when it opens. */
export async function ensureLedger(pool: Pool): Promise<void> {
  await creatingTable(pool, 'sluice_applied_batches', async (client) => {
    await client.query(CREATE_APPLIED_BATCHES);
  });
}

/** Deletes ledger rows older than `olderThanHours`; none before a sink has created the ledger. */
export async function pruneLedger(pool: Pool, olderThanHours: number): Promise<number> {
  const exists = await pool.query<{ present: boolean }>(LEDGER_EXISTS);
  if (!exists.rows[0]?.present) return 0;
  const result = await pool.query(PRUNE_APPLIED_BATCHES, [olderThanHours]);
  return result.rowCount ?? 0;
}

/**
 * Runs `apply` in one transaction together with the ledger rows of `batchIds`, giving it the ids the
 * ledger did not hold yet; with none, nothing is written and the result is empty. An abort cancels the
 * running statement on the server, so a timed-out write cannot go on in the background and overlap the next.
 */
export async function applyBatchesOnce(
  pool: Pool,
  sink: string,
  batchIds: readonly string[],
  apply: (client: PoolClient, fresh: ReadonlySet<string>) => Promise<void>,
  signal: AbortSignal,
): Promise<ReadonlySet<string>> {
  signal.throwIfAborted();
  let stopListening = () => {};
  try {
    const outcome = await inTransaction(pool, async (client) => {
      stopListening = cancelOnAbort(pool, client, signal);
      const recorded = await client.query<{ batch_id: string }>(RECORD_APPLIED_BATCHES, [sink, [...batchIds].sort()]);
      if (recorded.rows.length === 0) return ROLL_BACK;
      const fresh = new Set(recorded.rows.map((r) => r.batch_id));
      await apply(client, fresh);
      return fresh;
    });
    return outcome === ROLL_BACK ? new Set() : outcome;
  } finally {
    stopListening();
  }
}

/** applyBatchesOnce for one batch: false, having written nothing, when the ledger already holds it. */
export async function applyBatchOnce(
  pool: Pool,
  sink: string,
  batchId: string,
  apply: (client: PoolClient) => Promise<void>,
  signal: AbortSignal,
): Promise<boolean> {
  return (await applyBatchesOnce(pool, sink, [batchId], (client) => apply(client), signal)).size > 0;
}
