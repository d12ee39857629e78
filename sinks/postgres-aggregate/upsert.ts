import type pg from 'pg';
import { timeToIsoMicros } from '../../src/record/go-time.js';
import { CODE_COLUMNS, codeColumnIndex, type AggregateRow } from '../../src/aggregate/sql-rows.js';
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

/** The rows as the statement's array parameters, column by column, in its $1…$46 order. */
function columnArrays(rows: readonly AggregateRow[]): unknown[][] {
  const scalar = (pick: (row: AggregateRow) => unknown) => rows.map(pick);
  return [
    scalar((r) => r.id),
    scalar((r) => r.counter.hits),
    scalar((r) => r.counter.success),
    scalar((r) => r.counter.errorTotal),
    scalar((r) => r.counter.requestTime),
    scalar((r) => r.counter.totalRequestTime),
    scalar((r) => pgText(r.counter.identifier)),
    scalar((r) => pgText(r.counter.humanIdentifier)),
    scalar((r) => timeToIsoMicros(r.counter.lastTime)),
    scalar((r) => r.counter.openConnections),
    scalar((r) => r.counter.closedConnections),
    scalar((r) => r.counter.bytesIn),
    scalar((r) => r.counter.bytesOut),
    scalar((r) => r.counter.maxUpstreamLatency),
    scalar((r) => r.counter.minUpstreamLatency),
    scalar((r) => r.counter.totalUpstreamLatency),
    scalar((r) => r.counter.upstreamLatency),
    scalar((r) => r.counter.maxLatency),
    scalar((r) => r.counter.minLatency),
    scalar((r) => r.counter.totalLatency),
    scalar((r) => r.counter.latency),
    scalar((r) => r.timestampSec),
    scalar((r) => pgText(r.orgId)),
    scalar((r) => pgText(r.dimension)),
    scalar((r) => pgText(r.dimensionValue)),
    ...codeColumnArrays(rows),
  ];
}

/**
 * Merges rows (unique ids, see mergeRowsById) into `table`, `chunkSize` rows per statement. Each statement
 * binds 46 arrays whatever the chunk size, far from PostgreSQL's 65,535-parameter limit.
 */
export async function upsertRows(client: pg.PoolClient, table: string, rows: readonly AggregateRow[], chunkSize: number): Promise<void> {
  const statement = withIdentifiers(UPSERT_ROWS, { table });
  for (let start = 0; start < rows.length; start += chunkSize) {
    await client.query(statement, columnArrays(rows.slice(start, start + chunkSize)));
  }
}
