import type pg from 'pg';
import { quoteIdent } from './columns.js';
import { fillPlaceholders, sqlStatement } from './sql.js';

const INDEX_STATE = sqlStatement(import.meta.url, 'index-state');
const DROP_INDEX_CONCURRENTLY = sqlStatement(import.meta.url, 'drop-index-concurrently');

/**
 * Runs `create` (a CREATE INDEX CONCURRENTLY IF NOT EXISTS of `index`) unless a valid index of that name
 * exists. A concurrent build that fails (a deadlock with another worker's build, a cancel) leaves an
 * invalid index behind, which IF NOT EXISTS would keep for ever and no query uses: it is dropped and built
 * again, unless an index is being built on the table right now (it may be that one, still in progress).
 * Returns what it did. Must run outside any transaction.
 */
export async function buildIndexConcurrently(pool: pg.Pool, index: string, create: string): Promise<'valid' | 'built' | 'rebuilt' | 'left to its builder'> {
  const { rows } = await pool.query<{ valid: boolean; building: boolean }>(INDEX_STATE, [quoteIdent(index)]);
  const state = rows[0];
  if (state?.valid) return 'valid';
  if (state?.building) return 'left to its builder';
  if (state) await pool.query(fillPlaceholders(DROP_INDEX_CONCURRENTLY, { $INDEX: quoteIdent(index) }));
  await pool.query(create);
  return state ? 'rebuilt' : 'built';
}
