import type pg from 'pg';
import { quoteIdent } from './columns.js';
import { fillPlaceholders, sqlStatement } from './sql.js';
import { cancelOnAbort } from './cancel.js';
import { withClient } from './transaction.js';
import { sleep } from '../../src/delivery/backoff.js';

/** How long a closing sink lets an index build in progress finish (one on a new table takes moments). */
export const INDEX_BUILD_GRACE_MS = 2_000;

const INDEX_STATE = sqlStatement(import.meta.url, 'index-state');
const DROP_INDEX_CONCURRENTLY = sqlStatement(import.meta.url, 'drop-index-concurrently');

/**
 * Runs `create` (a CREATE INDEX CONCURRENTLY IF NOT EXISTS of `index`) unless a valid index of that name
 * exists. A concurrent build that fails (a deadlock with another worker's build, a cancel) leaves an
 * invalid index behind, which IF NOT EXISTS would keep for ever and no query uses: it is dropped and built
 * again, unless an index is being built on the table right now (it may be that one, still in progress).
 * An abort of `signal` (the sink closing) cancels the build on the server: on a large table it takes
 * minutes, and the next start builds it again. Returns what it did. Must run outside any transaction.
 */
export async function buildIndexConcurrently(
  pool: pg.Pool, index: string, create: string, signal?: AbortSignal,
): Promise<'valid' | 'built' | 'rebuilt' | 'left to its builder'> {
  const { rows } = await pool.query<{ valid: boolean; building: boolean }>(INDEX_STATE, [quoteIdent(index)]);
  const state = rows[0];
  if (state?.valid) return 'valid';
  if (state?.building) return 'left to its builder';
  if (state) await runCancellable(pool, fillPlaceholders(DROP_INDEX_CONCURRENTLY, { $INDEX: quoteIdent(index) }), signal);
  await runCancellable(pool, create, signal);
  return state ? 'rebuilt' : 'built';
}

async function runCancellable(pool: pg.Pool, statement: string, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  await withClient(pool, async (client) => {
    const stopListening = cancelOnAbort(pool, client, signal);
    try {
      await client.query(statement);
    } finally {
      stopListening();
    }
  });
}

/**
 * For a closing sink: waits up to INDEX_BUILD_GRACE_MS for `build` (which never rejects), then cancels it
 * through `controller` and waits for it to stop. A build on a large table takes minutes, longer than any
 * shutdown may; the next start builds the index again.
 */
export async function finishOrCancel(build: Promise<void> | undefined, controller: AbortController): Promise<void> {
  if (!build) return;
  const grace = new AbortController();
  const finished = await Promise.race([build.then(() => true), sleep(INDEX_BUILD_GRACE_MS, grace.signal).then(() => false)]);
  grace.abort();
  if (finished) return;
  controller.abort();
  await build;
}
