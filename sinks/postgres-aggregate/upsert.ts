import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { timeToIsoMicros } from '../../src/record/go-time.js';
import { CODE_COLUMNS, codeColumnIndex, type AggregateRow } from '../../src/aggregate/sql-rows.js';
import type { Counter } from '../../src/aggregate/counter.js';
import { escapeCopyText } from '../postgres/copy-rows.js';
import { quoteIdent } from '../postgres/columns.js';
import { fillPlaceholders } from '../postgres/sql.js';
import { CHECK_TEMPORARY_PRIVILEGE, CLEAR_STAGE, COPY_STAGE, CREATE_STAGE, MERGE_STAGE, withIdentifiers } from './statements.js';

/*
 * Aggregate rows reach their table through the connection's temporary staging table: a chunk is copied in
 * as COPY text, then merged with one INSERT … SELECT … ON CONFLICT. PostgreSQL spends about half the CPU
 * per row that an INSERT … FROM unnest(…) of 46 array parameters cost it (11–17 µs against 25–33 per new
 * row, 15–20 against 26–33 per merged one, measured on this project's development machine): parsing
 * array parameters was most of the upsert.
 */

/** PostgreSQL text cannot hold NUL; a path or tag carrying one would otherwise fail the whole batch. */
function pgText(value: string): string {
  return escapeCopyText(value.includes('\0') ? value.replaceAll('\0', '') : value);
}

type CounterField = { [K in keyof Counter]: Counter[K] extends number ? K : never }[keyof Counter];
const counter = (field: CounterField) => (row: AggregateRow) => row.counter[field];

/** The staged columns and their values, in COPY order; the merge reads them by name. */
const STAGED_COLUMNS: ReadonlyArray<readonly [column: string, value: (row: AggregateRow) => string | number]> = [
  ['id', (row) => pgText(row.id)],
  ['counter_hits', counter('hits')],
  ['counter_success', counter('success')],
  ['counter_error', counter('errorTotal')],
  ['counter_request_time', counter('requestTime')],
  ['counter_total_request_time', counter('totalRequestTime')],
  ['counter_identifier', (row) => pgText(row.counter.identifier)],
  ['counter_human_identifier', (row) => pgText(row.counter.humanIdentifier)],
  ['counter_last_time', (row) => timeToIsoMicros(row.counter.lastTime)],
  ['counter_open_connections', counter('openConnections')],
  ['counter_closed_connections', counter('closedConnections')],
  ['counter_bytes_in', counter('bytesIn')],
  ['counter_bytes_out', counter('bytesOut')],
  ['counter_max_upstream_latency', counter('maxUpstreamLatency')],
  ['counter_min_upstream_latency', counter('minUpstreamLatency')],
  ['counter_total_upstream_latency', counter('totalUpstreamLatency')],
  ['counter_upstream_latency', counter('upstreamLatency')],
  ['counter_max_latency', counter('maxLatency')],
  ['counter_min_latency', counter('minLatency')],
  ['counter_total_latency', counter('totalLatency')],
  ['counter_latency', counter('latency')],
  ['timestamp', (row) => row.timestampSec],
  ['org_id', (row) => pgText(row.orgId)],
  ['dimension', (row) => pgText(row.dimension)],
  ['dimension_value', (row) => pgText(row.dimensionValue)],
];

const COPY_STAGED_COLUMNS = fillPlaceholders(COPY_STAGE, {
  $COLUMNS: [...STAGED_COLUMNS.map(([column]) => column), ...CODE_COLUMNS.map((code) => `code_${code}`)].map(quoteIdent).join(', '),
});

/** A row's code_* counts, in CODE_COLUMNS order: only the codes its error map holds count. */
function codeCounts(row: AggregateRow): number[] {
  const counts = new Array<number>(CODE_COLUMNS.length).fill(0);
  for (const [code, count] of row.counter.errorMap) {
    const column = codeColumnIndex(code);
    if (column >= 0) counts[column]! += count;
  }
  return counts;
}

/** The rows as COPY text: one line per row, tab-separated, nothing NULL. */
export function stagedText(rows: readonly AggregateRow[]): string {
  const fields: Array<string | number> = [];
  return rows
    .map((row) => {
      fields.length = 0;
      for (const [, value] of STAGED_COLUMNS) fields.push(value(row));
      fields.push(...codeCounts(row));
      return `${fields.join('\t')}\n`;
    })
    .join('');
}

async function stage(client: pg.PoolClient, rows: readonly AggregateRow[]): Promise<void> {
  const copy = client.query(copyFrom(COPY_STAGED_COLUMNS));
  await pipeline(Readable.from([Buffer.from(stagedText(rows))]), copy);
}

/** Staging needs a temporary table; refuses, naming the GRANT, where the privilege was revoked. */
export async function checkCanStage(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ allowed: boolean; database: string; role: string }>(CHECK_TEMPORARY_PRIVILEGE);
  const { allowed, database, role } = rows[0]!;
  if (!allowed) {
    throw new Error(`role ${role} may not create temporary tables, which aggregate rows are staged in: ` +
      `GRANT TEMPORARY ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(role)}`);
  }
}

/**
 * Merges rows (unique ids, see mergeRowsById) into `table`, `chunkSize` rows per statement, inside the
 * caller's transaction.
 */
export async function upsertRows(client: pg.PoolClient, table: string, rows: readonly AggregateRow[], chunkSize: number): Promise<void> {
  await client.query(withIdentifiers(CREATE_STAGE, { table }));
  const merge = withIdentifiers(MERGE_STAGE, { table });
  for (let start = 0; start < rows.length; start += chunkSize) {
    // Another table's rows, or the previous chunk's, may be staged already in this transaction.
    await client.query(CLEAR_STAGE);
    await stage(client, rows.slice(start, start + chunkSize));
    await client.query(merge);
  }
}
