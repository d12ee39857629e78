import type pg from 'pg';
import { timeToIsoMicros } from '../../src/record/go-time.js';
import { CODE_COLUMNS, rowId } from '../../src/aggregate/sql-rows.js';
import type { CounterNumber } from '../../src/aggregate/row-columns.js';
import type { FoldedTable } from '../../src/aggregate/folded-table.js';
import { UPSERT_ROWS, withIdentifiers } from './statements.js';

/** PostgreSQL text cannot hold NUL; a path or tag carrying one would otherwise fail the whole batch. */
function pgText(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

/**
 * An array literal of elements that need no quoting: numbers, hex ids and ISO times hold no quote,
 * backslash, comma, brace or space, and none spells NULL. node-postgres quotes and escapes every element of
 * an array parameter, two regular-expression replaces per value, which for these (38 of the 43 columns)
 * buys nothing. Binary int8[] arrays, tried for the 35 bigint columns, sent six times the bytes of these
 * mostly-zero texts and cost the client and the server as much.
 */
function unquotedArray(values: ReadonlyArray<string | number>): string {
  return `{${values.join(',')}}`;
}

/**
 * The rows at `slots` as the statement's array parameters, column by column, in its $1…$43 order. Averages
 * are not sent: the statement divides them from the totals, on insert as on conflict.
 */
function columnArrays(rows: FoldedTable, slots: Uint32Array): unknown[] {
  const picked = Array.from(slots);
  const texts = (labels: readonly string[]) => picked.map((slot) => pgText(labels[slot]!));
  const numbers = (value: (slot: number) => number) => unquotedArray(picked.map(value));
  const counter = (field: CounterNumber) => numbers((slot) => rows.numberAt(slot, field));
  return [
    unquotedArray(picked.map((slot) => rowId(rows.keys[slot]!))),
    counter('hits'),
    counter('success'),
    counter('errorTotal'),
    counter('totalRequestTime'),
    texts(rows.identifiers),
    texts(rows.humanIdentifiers),
    unquotedArray(picked.map((slot) => timeToIsoMicros(rows.lastTimeAt(slot)))),
    counter('openConnections'),
    counter('closedConnections'),
    counter('bytesIn'),
    counter('bytesOut'),
    counter('maxUpstreamLatency'),
    counter('minUpstreamLatency'),
    counter('totalUpstreamLatency'),
    counter('maxLatency'),
    counter('minLatency'),
    counter('totalLatency'),
    numbers((slot) => rows.timestampAt(slot)),
    texts(rows.orgIds),
    texts(rows.dimensions),
    texts(rows.dimensionValues),
    ...CODE_COLUMNS.map((_, column) => numbers((slot) => rows.codeCountAt(slot, column))),
  ];
}

/**
 * Merges a table's folded rows (one per key) into `table`, in key order, `chunkSize` rows per statement.
 * Each statement binds 43 arrays whatever the chunk size, far from PostgreSQL's 65,535-parameter limit.
 */
export async function upsertRows(client: pg.PoolClient, table: string, rows: FoldedTable, chunkSize: number): Promise<void> {
  const statement = withIdentifiers(UPSERT_ROWS, { table });
  const order = rows.inKeyOrder();
  for (let start = 0; start < order.length; start += chunkSize) {
    await client.query(statement, columnArrays(rows, order.subarray(start, start + chunkSize)));
  }
}
