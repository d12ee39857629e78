import type { GoTime } from '../record/go-time.js';
import type { Counter, CounterAccumulator } from './counter.js';
import type { FoldedRow } from './sql-rows.js';

/*
 * Aggregate rows laid out column by column, as an encode thread hands them to the main thread. Cloned as
 * objects (each row a row, a counter, a time and an error map), an hourly batch of about 760 rows cost
 * 2.4 ms to serialize and 3.7 ms to rebuild on the main thread; as columns, a few arrays with the numbers
 * in one moved buffer, 0.8 ms each. Labels (org, dimension, value, the counter's two) repeat from row to
 * row (in the benchmark's backlog a per-minute batch of 1,600 rows carries 8,000 labels, 870 of them
 * distinct; 1,000 records spread over an hour, 27,000 and 880), so each distinct one crosses once. The
 * main thread folds the rows into columns of its own (folded-table.ts) and never builds them as objects.
 */

/** A counter's numeric fields, in their column order. */
const COUNTER_NUMBERS = [
  'hits', 'success', 'errorTotal', 'requestTime', 'totalRequestTime', 'openConnections', 'closedConnections',
  'bytesIn', 'bytesOut', 'maxUpstreamLatency', 'minUpstreamLatency', 'totalUpstreamLatency', 'upstreamLatency',
  'maxLatency', 'minLatency', 'totalLatency', 'latency',
] as const satisfies ReadonlyArray<keyof Counter>;

/** Per row: the bucket start, the last time's seconds and nanoseconds, then the counter's numbers. */
export const NUMBERS_PER_ROW = 3 + COUNTER_NUMBERS.length;
export type CounterNumber = (typeof COUNTER_NUMBERS)[number];

const NUMBER_OFFSETS = Object.fromEntries(COUNTER_NUMBERS.map((field, i) => [field, 3 + i])) as Record<CounterNumber, number>;

/** Where a counter's number sits within a row of numbers (after the bucket start and the last time). */
export function numberOffset(field: CounterNumber): number {
  return NUMBER_OFFSETS[field];
}

/** Per row, indices into the labels: org, dimension, value, and the counter's identifier and human identifier. */
export const LABEL = { org: 0, dimension: 1, value: 2, identifier: 3, humanIdentifier: 4 } as const;
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
      labelRefs[l + LABEL.org] = refer(row.orgId);
      labelRefs[l + LABEL.dimension] = refer(row.dimension);
      labelRefs[l + LABEL.value] = refer(row.dimensionValue);
      labelRefs[l + LABEL.identifier] = refer(counter.identifier);
      labelRefs[l + LABEL.humanIdentifier] = refer(counter.humanIdentifier);
      numbers[i * NUMBERS_PER_ROW] = row.timestampSec;
      writeCounterNumbers(numbers, i * NUMBERS_PER_ROW, counter);
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

/** Writes a counter's time and numbers into the row of `numbers` at `n` (its bucket start is the caller's). */
export function writeCounterNumbers(numbers: Float64Array, n: number, counter: Counter): void {
  let at = n + 1;
  numbers[at++] = counter.lastTime.sec;
  numbers[at++] = counter.lastTime.nsec;
  for (const field of COUNTER_NUMBERS) numbers[at++] = counter[field];
}

/** The counter's last time in the row of `numbers` at `n`. */
export function lastTimeAt(numbers: Float64Array, n: number): GoTime {
  return { sec: numbers[n + 1]!, nsec: numbers[n + 2]! };
}

/**
 * Reads the row of `numbers` at `n` into `counter`: its time and numbers, not its labels or error map. The
 * numbers' indices are 3 + their place in COUNTER_NUMBERS (the round-trip test holds them to it).
 */
export function readCounterNumbers(numbers: Float64Array, n: number, counter: CounterAccumulator): CounterAccumulator {
  counter.hits = numbers[n + 3]!;
  counter.success = numbers[n + 4]!;
  counter.errorTotal = numbers[n + 5]!;
  counter.requestTime = numbers[n + 6]!;
  counter.totalRequestTime = numbers[n + 7]!;
  // A new object each time: accumulate may keep the later of two times.
  counter.lastTime = lastTimeAt(numbers, n);
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
  return counter;
}

/** One of row i's labels (LABEL). */
export function labelAt(columns: RowColumns, i: number, which: (typeof LABEL)[keyof typeof LABEL]): string {
  return columns.labels[columns.labelRefs[i * LABELS_PER_ROW + which]!]!;
}
