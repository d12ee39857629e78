import type { Pool, PoolClient } from 'pg';
import { sqlStatement } from './sql.js';
import { inTransaction, ROLL_BACK } from './transaction.js';

const CREATE_APPLIED_BATCHES = sqlStatement(import.meta.url, 'create-applied-batches');
const RECORD_APPLIED_BATCH = sqlStatement(import.meta.url, 'record-applied-batch');
const PRUNE_APPLIED_BATCHES = sqlStatement(import.meta.url, 'prune-applied-batches');

export async function ensureLedger(pool: Pool): Promise<void> {
  await pool.query(CREATE_APPLIED_BATCHES);
}

export async function pruneLedger(pool: Pool, olderThanHours: number): Promise<number> {
  const result = await pool.query(PRUNE_APPLIED_BATCHES, [olderThanHours]);
  return result.rowCount ?? 0;
}

/**
 * Runs `apply` in one transaction together with the batch's ledger row. Returns false, having written
 * nothing, when the ledger already holds the batch. An abort cancels the running statement on the server,
 * so a timed-out write cannot go on in the background and overlap the next one.
 */
export async function applyBatchOnce(
  pool: Pool,
  sink: string,
  batchId: string,
  apply: (client: PoolClient) => Promise<void>,
  signal: AbortSignal,
): Promise<boolean> {
  signal.throwIfAborted();
  // An abort cancels the statement running on the server, so a timed-out write cannot go on behind our back.
  let cancel = () => {};
  const onAbort = () => cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const outcome = await inTransaction(pool, async (client) => {
      cancel = () => {
        pool.query('SELECT pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID]).catch(() => {});
      };
      const recorded = await client.query(RECORD_APPLIED_BATCH, [sink, batchId]);
      if (recorded.rowCount === 0) return ROLL_BACK;
      await apply(client);
      return true;
    });
    return outcome !== ROLL_BACK;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
