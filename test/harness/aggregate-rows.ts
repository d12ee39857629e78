import { accumulatorOf } from '../../src/aggregate/counter.js';
import { adoptRow, type AggregateRow, type FoldedRow } from '../../src/aggregate/sql-rows.js';

/**
 * Expected rows for a test: one per key, merged as a write merges them (adoptRow), from rows the test
 * still reads, so each counter is copied before it is adopted.
 */
export function mergeRowsByKey(rows: readonly AggregateRow[]): FoldedRow[] {
  const byKey = new Map<string, FoldedRow>();
  for (const row of rows) adoptRow(byKey, { ...row, counter: accumulatorOf(row.counter) });
  return [...byKey.values()];
}
