import type pg from 'pg';
import { CREATE_INDEX, CREATE_INDEX_CONCURRENTLY, CREATE_TABLE, withIdentifiers } from './statements.js';
import { creatingTable } from '../postgres/table-creation.js';
import { buildIndexConcurrently } from '../postgres/concurrent-index.js';

/** Where the dimension index goes and what it covers; undefined when omit_index_creation is set. */
export interface DimensionIndex {
  readonly columns: readonly string[];
}

/** Tyk names the index `<table>_idx_dimension`, so each daily shard has its own. */
export function dimensionIndexName(table: string): string {
  return `${table}_idx_dimension`;
}

/** Creates the table, and its index in the foreground, taking turns with other creators (creatingTable). */
export async function createTable(pool: pg.Pool, table: string, index: DimensionIndex | undefined): Promise<void> {
  await creatingTable(pool, table, async (client) => {
    await client.query(withIdentifiers(CREATE_TABLE, { table }));
    if (index) await client.query(withIdentifiers(CREATE_INDEX, { table, index: dimensionIndexName(table), columns: index.columns }));
  });
}

/** Builds the index without blocking writers, repairing one a failed build left invalid; must run outside any transaction. */
export function createIndexConcurrently(pool: pg.Pool, table: string, index: DimensionIndex, signal: AbortSignal): ReturnType<typeof buildIndexConcurrently> {
  const name = dimensionIndexName(table);
  return buildIndexConcurrently(pool, name, withIdentifiers(CREATE_INDEX_CONCURRENTLY, { table, index: name, columns: index.columns }), signal);
}
