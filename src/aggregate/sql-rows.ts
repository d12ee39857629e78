import { createHash } from 'node:crypto';
import { accumulate, type Counter, type CounterAccumulator } from './counter.js';
import type { DimensionEntry } from './dimensions.js';

/*
 * Aggregates as rows of Tyk's SQL tables (tyk_aggregated, tyk_uptime_analytics; reference §7.3, §7.4):
 * one row per (bucket, org, dimension, value), its id built as Tyk builds it, its code_* columns filled
 * from the counter's error map. Rows are told apart by their key, the text Tyk hex-encodes into the id: half
 * as long to hash and to hand between threads, and encoded only for the rows a write sends.
 */

export interface AggregateRow {
  /** `<bucket unix seconds><org><dimension><value>`; the id column holds rowId(key). */
  readonly key: string;
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

export function rowKey(bucketStartSec: number, orgId: string, dimension: string, value: string): string {
  return `${bucketStartSec}${orgId}${dimension}${value}`;
}

/** Tyk's id: lower-case hex of the key's UTF-8 bytes. */
export function rowId(key: string): string {
  return Buffer.from(key, 'utf8').toString('hex');
}

export interface Bucket {
  readonly orgId: string;
  readonly bucketStartSec: number;
}

/**
 * The longest key a row may have. Its id, the key in hex, is the table's primary key, and a btree entry
 * holds at most 2,704 bytes: a key of about 1,350 bytes (a long path under track_path, a long tag) fails
 * the whole upsert, in Tyk as it would here. 1,024 leaves the index entry a margin.
 */
export const MAX_ROW_KEY_BYTES = 1024;
/** Hex digits of the whole value's sha256 that end a shortened value, so distinct long values stay apart. */
const SHORTENED_HASH_DIGITS = 16;
const SHORTENED_MARK = '…';

/**
 * The dimension value as its row stores it: itself, or, when the row's key would be longer than
 * MAX_ROW_KEY_BYTES, cut at a character boundary to fit and ended with `…` and a hash of the whole value.
 * The same value always gives the same row, whatever the batch, and its counts are kept.
 */
export function storedDimensionValue(bucket: Bucket, dimension: string, value: string): string {
  // A UTF-16 unit takes at most 3 UTF-8 bytes, and a bucket's seconds at most 12 characters (years 1 to
  // 9999): almost every key is shown short enough without building or encoding it.
  if ((12 + bucket.orgId.length + dimension.length + value.length) * 3 <= MAX_ROW_KEY_BYTES) return value;
  const prefix = `${bucket.bucketStartSec}${bucket.orgId}${dimension}`;
  if (Buffer.byteLength(prefix) + Buffer.byteLength(value) <= MAX_ROW_KEY_BYTES) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, SHORTENED_HASH_DIGITS);
  const room = MAX_ROW_KEY_BYTES - Buffer.byteLength(prefix) - Buffer.byteLength(SHORTENED_MARK) - hash.length;
  const { read } = new TextEncoder().encodeInto(value, new Uint8Array(Math.max(room, 0)));
  return `${value.slice(0, read)}${SHORTENED_MARK}${hash}`;
}

/** One row per entry, holding the entry's counter itself (a FoldedRow when the counters are handed over). */
export function aggregateRows<C extends Counter>(bucket: Bucket, entries: ReadonlyArray<DimensionEntry<C>>): Array<AggregateRow & { readonly counter: C }> {
  return entries.map(({ dimension, value, counter }) => {
    const stored = storedDimensionValue(bucket, dimension, value);
    return {
      key: rowKey(bucket.bucketStartSec, bucket.orgId, dimension, stored),
      timestampSec: bucket.bucketStartSec,
      orgId: bucket.orgId,
      dimension,
      dimensionValue: stored,
      counter,
    };
  });
}

/** A row whose holder adds later rows of the same key into its counter. */
export interface FoldedRow extends AggregateRow {
  readonly counter: CounterAccumulator;
}

/**
 * Adds a row the caller hands over and no longer uses (an aggregation's taken rows) into `into`, one row
 * per key. Tyk's ids are plain concatenations, so distinct (org, dimension, value) can share one (org `o`,
 * tags `apiidx` and org `otags`, apiid `x` both give `…otagsapiidx`); the table then holds one row for
 * both, and so must a single upsert, which cannot touch a row twice. The first row's labels are kept, as
 * the table keeps the existing row's.
 */
export function adoptRow(into: Map<string, FoldedRow>, row: FoldedRow): void {
  const existing = into.get(row.key);
  if (existing) accumulate(existing.counter, row.counter);
  else into.set(row.key, row);
}
