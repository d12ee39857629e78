import { EMPTY_COUNTER, NO_ERRORS, accumulate, accumulatorOf, type Counter, type CounterAccumulator } from './counter.js';
import type { FoldedRow } from './sql-rows.js';

/*
 * Aggregate rows laid out column by column, as an encode thread hands them to the main thread. Cloned as
 * objects (each row a row, a counter, a time and an error map), an hourly batch of about 760 rows cost
 * 2.4 ms to serialize and 3.7 ms to rebuild on the main thread; as columns, a few arrays with the numbers
 * in one moved buffer, 0.8 ms each. Labels (org, dimension, value, the counter's two) repeat from row to
 * row (in the benchmark's backlog a per-minute batch of 1,600 rows carries 8,000 labels, 870 of them
 * distinct; 1,000 records spread over an hour, 27,000 and 880), so each distinct one crosses once. The
 * main thread folds the rows in as they are (foldColumns) and builds objects only for rows it has not seen.
 */

/** A counter's numeric fields, in their column order. */
const COUNTER_NUMBERS = [
  'hits', 'success', 'errorTotal', 'requestTime', 'totalRequestTime', 'openConnections', 'closedConnections',
  'bytesIn', 'bytesOut', 'maxUpstreamLatency', 'minUpstreamLatency', 'totalUpstreamLatency', 'upstreamLatency',
  'maxLatency', 'minLatency', 'totalLatency', 'latency',
] as const satisfies ReadonlyArray<keyof Counter>;

/** Per row: the bucket start, the last time's seconds and nanoseconds, then the counter's numbers. */
const NUMBERS_PER_ROW = 3 + COUNTER_NUMBERS.length;
/** Per row, indices into the labels: org, dimension, value, and the counter's identifier and human identifier. */
const LABELS_PER_ROW = 5;

export interface RowColumns {
  /** Table names; rows [tableEnds[k - 1], tableEnds[k]) belong to tables[k]. */
  readonly tables: string[];
  readonly tableEnds: Uint32Array;
  /** Each row's key. */
  readonly keys: string[];
  /** The batch's distinct labels, and LABELS_PER_ROW indices into them per row. */
  readonly labels: string[];
  readonly labelRefs: Uint32Array;
  readonly numbers: Float64Array;
  /** Each row's error map: entries [codeEnds[i - 1], codeEnds[i]) of codes and codeCounts. */
  readonly codeEnds: Uint32Array;
  readonly codes: string[];
  readonly codeCounts: Float64Array;
}

export function rowCount(columns: RowColumns): number {
  return columns.codeEnds.length;
}

/** The rows of each table, as columns. */
export function toRowColumns(tables: ReadonlyMap<string, ReadonlyMap<string, FoldedRow>>): RowColumns {
  let total = 0;
  for (const rows of tables.values()) total += rows.size;
  const tableEnds = new Uint32Array(tables.size);
  const keys: string[] = [];
  const labels: string[] = [];
  const labelIndex = new Map<string, number>();
  const labelRefs = new Uint32Array(total * LABELS_PER_ROW);
  const refer = (label: string): number => {
    let index = labelIndex.get(label);
    if (index === undefined) labelIndex.set(label, (index = labels.push(label) - 1));
    return index;
  };
  const numbers = new Float64Array(total * NUMBERS_PER_ROW);
  const codeEnds = new Uint32Array(total);
  const codes: string[] = [];
  const counts: number[] = [];
  let i = 0;
  let t = 0;
  for (const rows of tables.values()) {
    for (const row of rows.values()) {
      const { counter } = row;
      keys.push(row.key);
      const l = i * LABELS_PER_ROW;
      labelRefs[l] = refer(row.orgId);
      labelRefs[l + 1] = refer(row.dimension);
      labelRefs[l + 2] = refer(row.dimensionValue);
      labelRefs[l + 3] = refer(counter.identifier);
      labelRefs[l + 4] = refer(counter.humanIdentifier);
      let n = i * NUMBERS_PER_ROW;
      numbers[n++] = row.timestampSec;
      numbers[n++] = counter.lastTime.sec;
      numbers[n++] = counter.lastTime.nsec;
      for (const field of COUNTER_NUMBERS) numbers[n++] = counter[field];
      for (const [code, count] of counter.errorMap) {
        codes.push(code);
        counts.push(count);
      }
      codeEnds[i++] = codes.length;
    }
    tableEnds[t++] = i;
  }
  return { tables: [...tables.keys()], tableEnds, keys, labels, labelRefs, numbers, codeEnds, codes, codeCounts: Float64Array.from(counts) };
}

/** The buffers a thread can move rather than copy. */
export function rowColumnBuffers(columns: RowColumns): ArrayBuffer[] {
  return [columns.tableEnds, columns.labelRefs, columns.numbers, columns.codeEnds, columns.codeCounts].map((array) => array.buffer as ArrayBuffer);
}

/** Row i's error map: NO_ERRORS without codes, else `reused` (cleared first) or a new map, filled. */
function errorsAt(columns: RowColumns, i: number, reused?: Map<string, number>): ReadonlyMap<string, number> {
  const { codeEnds, codes, codeCounts } = columns;
  const first = i === 0 ? 0 : codeEnds[i - 1]!;
  if (codeEnds[i]! === first) return NO_ERRORS;
  const errors = reused ?? new Map<string, number>();
  errors.clear();
  for (let c = first; c < codeEnds[i]!; c++) errors.set(codes[c]!, codeCounts[c]!);
  return errors;
}

/**
 * Writes row i's counter into `counter`, every field; `reusedErrors`, when given, holds its error map. The
 * numbers' indices are 3 + their place in COUNTER_NUMBERS (the round-trip test holds them to it).
 */
function readCounter(columns: RowColumns, i: number, counter: CounterAccumulator, reusedErrors?: Map<string, number>): CounterAccumulator {
  const { labels, labelRefs, numbers } = columns;
  const l = i * LABELS_PER_ROW;
  const n = i * NUMBERS_PER_ROW;
  counter.hits = numbers[n + 3]!;
  counter.success = numbers[n + 4]!;
  counter.errorTotal = numbers[n + 5]!;
  counter.requestTime = numbers[n + 6]!;
  counter.totalRequestTime = numbers[n + 7]!;
  counter.identifier = labels[labelRefs[l + 3]!]!;
  counter.humanIdentifier = labels[labelRefs[l + 4]!]!;
  // A new object each time: accumulate may keep the later of two times.
  counter.lastTime = { sec: numbers[n + 1]!, nsec: numbers[n + 2]! };
  counter.openConnections = numbers[n + 8]!;
  counter.closedConnections = numbers[n + 9]!;
  counter.bytesIn = numbers[n + 10]!;
  counter.bytesOut = numbers[n + 11]!;
  counter.maxUpstreamLatency = numbers[n + 12]!;
  counter.minUpstreamLatency = numbers[n + 13]!;
  counter.totalUpstreamLatency = numbers[n + 14]!;
  counter.upstreamLatency = numbers[n + 15]!;
  counter.maxLatency = numbers[n + 16]!;
  counter.minLatency = numbers[n + 17]!;
  counter.totalLatency = numbers[n + 18]!;
  counter.latency = numbers[n + 19]!;
  counter.errorMap = errorsAt(columns, i, reusedErrors);
  return counter;
}

function rowAt(columns: RowColumns, i: number): FoldedRow {
  const { keys, labels, labelRefs, numbers } = columns;
  const l = i * LABELS_PER_ROW;
  // Built from EMPTY_COUNTER so that every counter the fold adds into has accumulatorOf's V8 shape.
  const counter = readCounter(columns, i, accumulatorOf(EMPTY_COUNTER));
  return {
    key: keys[i]!, timestampSec: numbers[i * NUMBERS_PER_ROW]!,
    orgId: labels[labelRefs[l]!]!, dimension: labels[labelRefs[l + 1]!]!, dimensionValue: labels[labelRefs[l + 2]!]!, counter,
  };
}

/**
 * Adds the rows into the maps `rowsOf` gives for their tables, one row per key, as adoptRowsByKey adds row
 * objects. Only a new key becomes a row object; a known one is read into one reused counter and added from
 * there. Most rows of a backlog have known keys (hourly, nine in ten), and building each as objects only to
 * add and drop them was a quarter of what the main thread allocated.
 */
export function foldColumns(columns: RowColumns, rowsOf: (table: string) => Map<string, FoldedRow>): void {
  const known = accumulatorOf(EMPTY_COUNTER);
  const knownErrors = new Map<string, number>();
  let start = 0;
  columns.tables.forEach((table, t) => {
    const into = rowsOf(table);
    const end = columns.tableEnds[t]!;
    for (let i = start; i < end; i++) {
      const key = columns.keys[i]!;
      const existing = into.get(key);
      if (existing) accumulate(existing.counter, readCounter(columns, i, known, knownErrors));
      else into.set(key, rowAt(columns, i));
    }
    start = end;
  });
}
