import type { Pool, PoolClient } from 'pg';
import { sqlStatement } from './sql.js';

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
  const client = await pool.connect();
  const cancel = () => {
    pool.query('SELECT pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID]).catch(() => {});
  };
  signal.addEventListener('abort', cancel, { once: true });
  let broken: Error | undefined;
  // The pool stops listening to a client while it is checked out: a socket that dies here (the database
  // restarts, the network drops) would emit 'error' to nobody and end the process. The statement in
  // progress fails on its own; this keeps the process up and the dead client out of the pool.
  const onConnectionError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onConnectionError);
  try {
    await client.query('BEGIN');
    const recorded = await client.query(RECORD_APPLIED_BATCH, [sink, batchId]);
    if (recorded.rowCount === 0) {
      await client.query('ROLLBACK');
      return false;
    }
    await apply(client);
    await client.query('COMMIT');
    return true;
  } catch (err) {
    broken = err as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    signal.removeEventListener('abort', cancel);
    client.off('error', onConnectionError);
    // A connection that failed mid-transaction is not trusted back into the pool.
    client.release(broken);
  }
}
