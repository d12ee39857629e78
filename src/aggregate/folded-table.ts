import { EMPTY_COUNTER, accumulate, accumulatorOf, type CounterAccumulator } from './counter.js';
import type { GoTime } from '../record/go-time.js';
import { LABEL, NUMBERS_PER_ROW, labelAt, lastTimeAt, numberOffset, readCounterNumbers, writeCounterNumbers, type CounterNumber, type RowColumns } from './row-columns.js';
import { CODE_COLUMNS, codeColumnIndex } from './sql-rows.js';

/*
 * One table's rows of a fold, one per key, kept as columns. A fold holds the rows of up to a second of
 * batches until they are written; as objects (a row, its counter, its time, its error map) each took 0.8–1
 * KB of heap and outlived the young generation, so every scavenge copied them and the main thread's own
 * collection became its largest cost per minute. Here a row's numbers and code_* counts sit in typed arrays
 * the collector does not walk, its labels are shared strings, and a known key is merged in place by the
 * model's own rule (accumulate), through two reused counters.
 */

const CODES_PER_ROW = CODE_COLUMNS.length;
const INITIAL_ROWS = 256;

export class FoldedTable {
  private readonly slots = new Map<string, number>();
  readonly keys: string[] = [];
  readonly orgIds: string[] = [];
  readonly dimensions: string[] = [];
  readonly dimensionValues: string[] = [];
  readonly identifiers: string[] = [];
  readonly humanIdentifiers: string[] = [];
  /** NUMBERS_PER_ROW per row, laid out as in RowColumns: bucket start, last time, the counter's numbers. */
  private numbers = new Float64Array(INITIAL_ROWS * NUMBERS_PER_ROW);
  /** Each row's code_* counts, in CODE_COLUMNS order: what Tyk's ProcessStatusCodes makes of its error map. */
  private codes = new Float64Array(INITIAL_ROWS * CODES_PER_ROW);
  private readonly existing = accumulatorOf(EMPTY_COUNTER);
  private readonly incoming = accumulatorOf(EMPTY_COUNTER);

  get size(): number {
    return this.keys.length;
  }

  /** Adds rows [from, to) of `columns`: a new key becomes a row, a known one merges into it. */
  addColumns(columns: RowColumns, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      let slot = this.slots.get(columns.keys[i]!);
      if (slot === undefined) slot = this.append(columns, i);
      else this.merge(slot, columns, i);
      this.addCodes(slot, columns, i);
    }
  }

  private append(columns: RowColumns, i: number): number {
    const slot = this.keys.length;
    this.reserve(slot + 1);
    this.slots.set(columns.keys[i]!, slot);
    this.keys.push(columns.keys[i]!);
    this.orgIds.push(labelAt(columns, i, LABEL.org));
    this.dimensions.push(labelAt(columns, i, LABEL.dimension));
    this.dimensionValues.push(labelAt(columns, i, LABEL.value));
    this.identifiers.push(labelAt(columns, i, LABEL.identifier));
    this.humanIdentifiers.push(labelAt(columns, i, LABEL.humanIdentifier));
    this.numbers.set(columns.numbers.subarray(i * NUMBERS_PER_ROW, (i + 1) * NUMBERS_PER_ROW), slot * NUMBERS_PER_ROW);
    return slot;
  }

  /** The model's merge of two counters, read from their columns and written back to the row's. */
  private merge(slot: number, columns: RowColumns, i: number): void {
    const into = this.counterAt(slot, this.existing);
    const from = readCounterNumbers(columns.numbers, i * NUMBERS_PER_ROW, this.incoming);
    from.identifier = labelAt(columns, i, LABEL.identifier);
    from.humanIdentifier = labelAt(columns, i, LABEL.humanIdentifier);
    accumulate(into, from);
    writeCounterNumbers(this.numbers, slot * NUMBERS_PER_ROW, into);
    this.identifiers[slot] = into.identifier;
    this.humanIdentifiers[slot] = into.humanIdentifier;
  }

  /** Row i's error map, added into the slot's code_* counts; a code whose class has no column is dropped. */
  private addCodes(slot: number, columns: RowColumns, i: number): void {
    const { codeEnds, codes, codeCounts } = columns;
    for (let c = i === 0 ? 0 : codeEnds[i - 1]!; c < codeEnds[i]!; c++) {
      const column = codeColumnIndex(codes[c]!);
      if (column >= 0) this.codes[slot * CODES_PER_ROW + column] += codeCounts[c]!;
    }
  }

  /** The row's counter, without its error map (its code_* counts are codeCountAt). */
  counterAt(slot: number, into: CounterAccumulator = accumulatorOf(EMPTY_COUNTER)): CounterAccumulator {
    readCounterNumbers(this.numbers, slot * NUMBERS_PER_ROW, into);
    into.identifier = this.identifiers[slot]!;
    into.humanIdentifier = this.humanIdentifiers[slot]!;
    return into;
  }

  timestampAt(slot: number): number {
    return this.numbers[slot * NUMBERS_PER_ROW]!;
  }

  lastTimeAt(slot: number): GoTime {
    return lastTimeAt(this.numbers, slot * NUMBERS_PER_ROW);
  }

  numberAt(slot: number, field: CounterNumber): number {
    return this.numbers[slot * NUMBERS_PER_ROW + numberOffset(field)]!;
  }

  /** The row's count for CODE_COLUMNS[column]. */
  codeCountAt(slot: number, column: number): number {
    return this.codes[slot * CODES_PER_ROW + column]!;
  }

  /**
   * The rows' slots in key order, the order in which concurrent writers lock them. It is the ids' order too,
   * except between characters above U+FFFF and U+E000–U+FFFF (UTF-16 and UTF-8 order them differently);
   * writers need only agree with each other, and a deadlock with a writer ordering otherwise is retried.
   */
  inKeyOrder(): Uint32Array {
    const { keys } = this;
    return Uint32Array.from(keys.keys()).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  }

  /** Room for `rows` rows, doubling: growth settles within a fold's first few batches. */
  private reserve(rows: number): void {
    if (rows * NUMBERS_PER_ROW <= this.numbers.length) return;
    const grown = Math.max(rows, 2 * (this.numbers.length / NUMBERS_PER_ROW));
    const numbers = new Float64Array(grown * NUMBERS_PER_ROW);
    numbers.set(this.numbers);
    this.numbers = numbers;
    const codes = new Float64Array(grown * CODES_PER_ROW);
    codes.set(this.codes);
    this.codes = codes;
  }
}

/** Folds `columns`' rows into `tables`, table by table, creating the tables it names. */
export function foldColumns(tables: Map<string, FoldedTable>, columns: RowColumns): void {
  let start = 0;
  columns.tables.forEach((table, t) => {
    let folded = tables.get(table);
    if (!folded) tables.set(table, (folded = new FoldedTable()));
    folded.addColumns(columns, start, columns.tableEnds[t]!);
    start = columns.tableEnds[t]!;
  });
}
