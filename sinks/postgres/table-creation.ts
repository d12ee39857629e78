import type { Pool, PoolClient } from 'pg';
import { sqlStatement } from './sql.js';
import { inTransaction } from './transaction.js';

const LOCK_TABLE_CREATION = sqlStatement(import.meta.url, 'lock-table-creation');

/**
 * Runs `create` (CREATE … IF NOT EXISTS statements) in one transaction under an advisory lock named after
 * `table`. Sessions creating one table at once (two sinks of a worker opening together, workers starting
 * together, two workers reaching a new daily shard) would otherwise collide in the catalog; this way they
 * take turns, and the later ones find the table there.
 */
export async function creatingTable(pool: Pool, table: string, create: (client: PoolClient) => Promise<void>): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(LOCK_TABLE_CREATION, [table]);
    await create(client);
  });
}
