import type pg from 'pg';
import { timeToIsoMicros } from '../../src/record/go-time.js';
import { CODE_COLUMNS, codeColumnIndex, rowId, type AggregateRow } from '../../src/aggregate/sql-rows.js';
import { UPSERT_ROWS, withIdentifiers } from './statements.js';

/** PostgreSQL text cannot hold NUL; a path or tag carrying one would otherwise fail the whole batch. */
function pgText(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

/** The code_* columns' arrays, in CODE_COLUMNS order: a row counts only the codes its error map holds. */
function codeColumnArrays(rows: readonly AggregateRow[]): number[][] {
  const arrays = CODE_COLUMNS.map(() => new Array<number>(rows.length).fill(0));
  rows.forEach((row, i) => {
    for (const [code, count] of row.counter.errorMap) {
      const column = codeColumnIndex(code);
      if (column >= 0) arrays[column]![i]! += count;
    }
  });
  return arrays;
}

/**
 * A decimal column as an array literal. node-postgres quotes and escapes every element of an array
 * parameter, two regular-expression replaces per value, which for numbers buys nothing: a number's text
 * never holds a quote, a backslash, a comma or a brace.
 */
function numberArray(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}

/**
 * Hex ids and ISO times as an array literal, unescaped for the same reason: they hold none of the
 * characters a literal quotes, and neither can spell NULL.
 */
function plainTextArray(values: readonly string[]): string {
  return `{${values.join(',')}}`;
}

/** The element type a binary int8[] names. */
const INT8_OID = 20;
const HEADER_BYTES = 20;
const BYTES_PER_INT8 = 12;

/**
 * A bigint column (35 of the 46) in PostgreSQL's binary array format, which node-postgres sends for a
 * Buffer: no number is formatted here or parsed by the server. Per minute, the text of these arrays was a
 * quarter of what the main thread allocated. A value that is not a safe integer goes as text instead, for
 * the server to refuse as it always did.
 */
function int8Array(values: readonly number[]): Buffer | string {
  if (!values.every(Number.isSafeInteger)) return numberArray(values);
  const bytes = Buffer.allocUnsafe(HEADER_BYTES + values.length * BYTES_PER_INT8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  view.setInt32(0, 1); // dimensions
  view.setInt32(4, 0); // no NULLs
  view.setInt32(8, INT8_OID);
  view.setInt32(12, values.length);
  view.setInt32(16, 1); // lower bound
  let at = HEADER_BYTES;
  for (const value of values) {
    view.setInt32(at, 8);
    // Two's complement in two halves: the high word by division (negatives included), the low one modulo 2^32.
    view.setInt32(at + 4, Math.floor(value / 2 ** 32));
    view.setUint32(at + 8, value >>> 0);
    at += BYTES_PER_INT8;
  }
  return bytes;
}

/** The rows as the statement's array parameters, column by column, in its $1…$46 order. */
function columnArrays(rows: readonly AggregateRow[]): unknown[] {
  const scalar = (pick: (row: AggregateRow) => string) => rows.map(pick);
  const bigints = (pick: (row: AggregateRow) => number) => int8Array(rows.map(pick));
  const decimals = (pick: (row: AggregateRow) => number) => numberArray(rows.map(pick));
  return [
    plainTextArray(rows.map((r) => rowId(r.key))),
    bigints((r) => r.counter.hits),
    bigints((r) => r.counter.success),
    bigints((r) => r.counter.errorTotal),
    decimals((r) => r.counter.requestTime),
    decimals((r) => r.counter.totalRequestTime),
    scalar((r) => pgText(r.counter.identifier)),
    scalar((r) => pgText(r.counter.humanIdentifier)),
    plainTextArray(rows.map((r) => timeToIsoMicros(r.counter.lastTime))),
    bigints((r) => r.counter.openConnections),
    bigints((r) => r.counter.closedConnections),
    bigints((r) => r.counter.bytesIn),
    bigints((r) => r.counter.bytesOut),
    bigints((r) => r.counter.maxUpstreamLatency),
    bigints((r) => r.counter.minUpstreamLatency),
    bigints((r) => r.counter.totalUpstreamLatency),
    decimals((r) => r.counter.upstreamLatency),
    bigints((r) => r.counter.maxLatency),
    bigints((r) => r.counter.minLatency),
    bigints((r) => r.counter.totalLatency),
    decimals((r) => r.counter.latency),
    bigints((r) => r.timestampSec),
    scalar((r) => pgText(r.orgId)),
    scalar((r) => pgText(r.dimension)),
    scalar((r) => pgText(r.dimensionValue)),
    ...codeColumnArrays(rows).map(int8Array),
  ];
}

/**
 * Merges rows (unique keys, see mergeRowsByKey) into `table`, `chunkSize` rows per statement. Each statement
 * binds 46 arrays whatever the chunk size, far from PostgreSQL's 65,535-parameter limit.
 */
export async function upsertRows(client: pg.PoolClient, table: string, rows: readonly AggregateRow[], chunkSize: number): Promise<void> {
  const statement = withIdentifiers(UPSERT_ROWS, { table });
  for (let start = 0; start < rows.length; start += chunkSize) {
    await client.query(statement, columnArrays(rows.slice(start, start + chunkSize)));
  }
}
