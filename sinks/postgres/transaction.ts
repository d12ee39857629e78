import type { Pool, PoolClient } from 'pg';

/** Returned by a transaction body that decided to write nothing: the transaction is rolled back. */
export const ROLL_BACK = Symbol('roll back');

/**
 * Runs `body` on a client of its own, returned to the pool after. A client that failed is not trusted
 * back into the pool.
 */
export async function withClient<T>(pool: Pool, body: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool stops listening to a client while it is checked out: a socket that dies here (the database
  // restarts, the network drops) would emit 'error' to nobody and end the process. The statement in
  // progress fails on its own; this keeps the process up and the dead client out of the pool.
  const onConnectionError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onConnectionError);
  try {
    return await body(client);
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    client.off('error', onConnectionError);
    client.release(broken);
  }
}

/**
 * Runs `body` in a transaction on a client of its own (withClient): committed when it returns, rolled back
 * when it throws or returns ROLL_BACK.
 */
export async function inTransaction<T>(pool: Pool, body: (client: PoolClient) => Promise<T | typeof ROLL_BACK>): Promise<T | typeof ROLL_BACK> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await body(client);
      await client.query(result === ROLL_BACK ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}
