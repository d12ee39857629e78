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
 * An array literal of elements that need no quoting: numbers, hex ids and ISO times hold no quote,
 * backslash, comma, brace or space, and none spells NULL. node-postgres quotes and escapes every element of
 * an array parameter, two regular-expression replaces per value, which for these (41 of the 46 columns)
 * buys nothing. Binary int8[] arrays, tried for the 35 bigint columns, sent six times the bytes of these
 * mostly-zero texts and cost the client and the server as much.
 */
function unquotedArray(values: ReadonlyArray<string | number>): string {
  return `{${values.join(',')}}`;
}

/** The rows as the statement's array parameters, column by column, in its $1…$46 order. */
function columnArrays(rows: readonly AggregateRow[]): unknown[] {
  const scalar = (pick: (row: AggregateRow) => string) => rows.map(pick);
  const numbers = (pick: (row: AggregateRow) => number) => unquotedArray(rows.map(pick));
  return [
    unquotedArray(rows.map((r) => rowId(r.key))),
    numbers((r) => r.counter.hits),
    numbers((r) => r.counter.success),
    numbers((r) => r.counter.errorTotal),
    numbers((r) => r.counter.requestTime),
    numbers((r) => r.counter.totalRequestTime),
    scalar((r) => pgText(r.counter.identifier)),
    scalar((r) => pgText(r.counter.humanIdentifier)),
    unquotedArray(rows.map((r) => timeToIsoMicros(r.counter.lastTime))),
    numbers((r) => r.counter.openConnections),
    numbers((r) => r.counter.closedConnections),
    numbers((r) => r.counter.bytesIn),
    numbers((r) => r.counter.bytesOut),
    numbers((r) => r.counter.maxUpstreamLatency),
    numbers((r) => r.counter.minUpstreamLatency),
    numbers((r) => r.counter.totalUpstreamLatency),
    numbers((r) => r.counter.upstreamLatency),
    numbers((r) => r.counter.maxLatency),
    numbers((r) => r.counter.minLatency),
    numbers((r) => r.counter.totalLatency),
    numbers((r) => r.counter.latency),
    numbers((r) => r.timestampSec),
    scalar((r) => pgText(r.orgId)),
    scalar((r) => pgText(r.dimension)),
    scalar((r) => pgText(r.dimensionValue)),
    ...codeColumnArrays(rows).map(unquotedArray),
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
