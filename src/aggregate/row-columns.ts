import { NO_ERRORS, type Counter, type CounterAccumulator } from './counter.js';
import type { FoldedRow } from './sql-rows.js';

/*
 * Aggregate rows laid out column by column, as an encode thread hands them to the main thread. Cloned as
 * objects (each row a row, a counter, a time and an error map), an hourly batch of about 760 rows cost
 * 2.4 ms to serialize and 3.7 ms to rebuild on the main thread; as columns, a few arrays with the numbers
 * in one moved buffer, 0.8 ms each, and the main thread builds each row once, in the shape every other
 * row has.
 */

/** A counter's numeric fields, in their column order. */
const COUNTER_NUMBERS = [
  'hits', 'success', 'errorTotal', 'requestTime', 'totalRequestTime', 'openConnections', 'closedConnections',
  'bytesIn', 'bytesOut', 'maxUpstreamLatency', 'minUpstreamLatency', 'totalUpstreamLatency', 'upstreamLatency',
  'maxLatency', 'minLatency', 'totalLatency', 'latency',
] as const satisfies ReadonlyArray<keyof Counter>;

/** Per row: the bucket start, the last time's seconds and nanoseconds, then the counter's numbers. */
const NUMBERS_PER_ROW = 3 + COUNTER_NUMBERS.length;
/** Per row: id, org, dimension, value, and the counter's two labels. */
const STRINGS_PER_ROW = 6;

export interface RowColumns {
  /** Table names; rows [tableEnds[k - 1], tableEnds[k]) belong to tables[k]. */
  readonly tables: string[];
  readonly tableEnds: Uint32Array;
  readonly strings: string[];
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
  const strings: string[] = [];
  const numbers = new Float64Array(total * NUMBERS_PER_ROW);
  const codeEnds = new Uint32Array(total);
  const codes: string[] = [];
  const counts: number[] = [];
  let i = 0;
  let t = 0;
  for (const rows of tables.values()) {
    for (const row of rows.values()) {
      const { counter } = row;
      strings.push(row.id, row.orgId, row.dimension, row.dimensionValue, counter.identifier, counter.humanIdentifier);
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
  return { tables: [...tables.keys()], tableEnds, strings, numbers, codeEnds, codes, codeCounts: Float64Array.from(counts) };
}

/** The buffers a thread can move rather than copy. */
export function rowColumnBuffers(columns: RowColumns): ArrayBuffer[] {
  return [columns.tableEnds, columns.numbers, columns.codeEnds, columns.codeCounts].map((array) => array.buffer as ArrayBuffer);
}

function rowAt(columns: RowColumns, i: number): FoldedRow {
  const { strings, numbers, codeEnds, codes, codeCounts } = columns;
  const s = i * STRINGS_PER_ROW;
  const n = i * NUMBERS_PER_ROW;
  const firstCode = i === 0 ? 0 : codeEnds[i - 1]!;
  let errorMap = NO_ERRORS;
  if (codeEnds[i]! > firstCode) {
    const errors = new Map<string, number>();
    for (let c = firstCode; c < codeEnds[i]!; c++) errors.set(codes[c]!, codeCounts[c]!);
    errorMap = errors;
  }
  // The fields in accumulatorOf's order, so that every counter the fold adds into has one V8 shape; the
  // numbers' indices are 3 + their place in COUNTER_NUMBERS (the round-trip test holds them to it).
  const counter: CounterAccumulator = {
    hits: numbers[n + 3]!, success: numbers[n + 4]!, errorTotal: numbers[n + 5]!, requestTime: numbers[n + 6]!,
    totalRequestTime: numbers[n + 7]!, identifier: strings[s + 4]!, humanIdentifier: strings[s + 5]!,
    lastTime: { sec: numbers[n + 1]!, nsec: numbers[n + 2]! },
    openConnections: numbers[n + 8]!, closedConnections: numbers[n + 9]!, bytesIn: numbers[n + 10]!, bytesOut: numbers[n + 11]!,
    maxUpstreamLatency: numbers[n + 12]!, minUpstreamLatency: numbers[n + 13]!,
    totalUpstreamLatency: numbers[n + 14]!, upstreamLatency: numbers[n + 15]!,
    maxLatency: numbers[n + 16]!, minLatency: numbers[n + 17]!, totalLatency: numbers[n + 18]!, latency: numbers[n + 19]!,
    errorMap,
  };
  return { id: strings[s]!, timestampSec: numbers[n]!, orgId: strings[s + 1]!, dimension: strings[s + 2]!, dimensionValue: strings[s + 3]!, counter };
}

/** Each table's rows, as objects, in column order. */
export function rowsOfColumns(columns: RowColumns): Array<[table: string, rows: FoldedRow[]]> {
  let start = 0;
  return columns.tables.map((table, t) => {
    const end = columns.tableEnds[t]!;
    const rows: FoldedRow[] = [];
    for (let i = start; i < end; i++) rows.push(rowAt(columns, i));
    start = end;
    return [table, rows];
  });
}
