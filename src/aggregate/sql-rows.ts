import { accumulate, accumulatorOf, type Counter, type CounterAccumulator } from './counter.js';
import type { DimensionEntry } from './dimensions.js';

/*
 * Aggregates as rows of Tyk's SQL tables (tyk_aggregated, tyk_uptime_analytics; reference §7.3, §7.4):
 * one row per (bucket, org, dimension, value), its id built as Tyk builds it, its code_* columns filled
 * from the counter's error map.
 */

export interface AggregateRow {
  /** Lower-case hex of the UTF-8 bytes of `<bucket unix seconds><org><dimension><value>`. */
  readonly id: string;
  readonly timestampSec: number;
  readonly orgId: string;
  readonly dimension: string;
  readonly dimensionValue: string;
  readonly counter: Counter;
}

/** The code_* columns, in table order. */
export const CODE_COLUMNS = [
  '1x', '200', '201', '2x', '301', '302', '303', '304', '3x',
  '400', '401', '403', '404', '429', '4x', '500', '501', '502', '503', '504', '5x',
] as const;
export type CodeColumn = (typeof CODE_COLUMNS)[number];

const COLUMN_INDEX: ReadonlyMap<string, number> = new Map(CODE_COLUMNS.map((c, i) => [c, i]));

/**
 * Tyk's ProcessStatusCodes for one code: a code with its own column goes there; any other goes into its
 * class column (`451` into `4x`); a code whose class has no column (`666`) is dropped. The index is into
 * CODE_COLUMNS, -1 for dropped.
 */
export function codeColumnIndex(code: string): number {
  return COLUMN_INDEX.get(code) ?? COLUMN_INDEX.get(`${code[0]}x`) ?? -1;
}

export function rowId(bucketStartSec: number, orgId: string, dimension: string, value: string): string {
  return Buffer.from(`${bucketStartSec}${orgId}${dimension}${value}`, 'utf8').toString('hex');
}

export interface Bucket {
  readonly orgId: string;
  readonly bucketStartSec: number;
}

export function aggregateRows(bucket: Bucket, entries: readonly DimensionEntry[]): AggregateRow[] {
  return entries.map(({ dimension, value, counter }) => ({
    id: rowId(bucket.bucketStartSec, bucket.orgId, dimension, value),
    timestampSec: bucket.bucketStartSec,
    orgId: bucket.orgId,
    dimension,
    dimensionValue: value,
    counter,
  }));
}

/**
 * One row per id. Tyk's ids are plain concatenations, so distinct (org, dimension, value) can share one
 * (org `o`, tags `apiidx` and org `otags`, apiid `x` both give `…otagsapiidx`); the table then holds one
 * row for both, and so must a single upsert, which cannot touch a row twice. The first row's labels are
 * kept, as the table keeps the existing row's.
 */
export function mergeRowsById(rows: readonly AggregateRow[]): FoldedRow[] {
  const byId = new Map<string, FoldedRow>();
  foldRowsById(byId, rows);
  return [...byId.values()];
}

/** A row whose holder adds later rows of the same id into its counter. */
export interface FoldedRow extends AggregateRow {
  readonly counter: CounterAccumulator;
}

/**
 * Adds `rows` into `into`, one row per id, as mergeRowsById merges them. A row whose id is new is copied,
 * so the fold never changes a counter it was handed.
 */
export function foldRowsById(into: Map<string, FoldedRow>, rows: Iterable<AggregateRow>): void {
  for (const row of rows) {
    const existing = into.get(row.id);
    if (existing) accumulate(existing.counter, row.counter);
    else into.set(row.id, { ...row, counter: accumulatorOf(row.counter) });
  }
}

/**
 * As foldRowsById, for rows the caller hands over and no longer uses (a folded batch's): a row whose id is
 * new is kept as it is, not copied.
 */
export function adoptRowsById(into: Map<string, FoldedRow>, rows: Iterable<FoldedRow>): void {
  for (const row of rows) {
    const existing = into.get(row.id);
    if (existing) accumulate(existing.counter, row.counter);
    else into.set(row.id, row);
  }
}

/** Orders rows by id, the order in which concurrent writers must lock them. */
export function byRowId(a: AggregateRow, b: AggregateRow): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
