import type { AnalyticsRecord } from '../../src/record/analytics-record.js';

/*
 * Tyk's insert batching (AccumulateSet): a document's size is estimated from its raw HTTP dumps plus 1 KiB
 * for everything else, and documents are packed greedily into batches of at most
 * max_insert_batch_size_bytes. Tyk drops the trailing partial batch when the input ends with a skipped
 * record (W16); packing here is a plain greedy split, so every item lands in exactly one batch.
 */

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const OTHER_FIELDS_BYTES = 1024;

export function estimatedDocumentBytes(r: Pick<AnalyticsRecord, 'raw_request' | 'raw_response'>): number {
  return Buffer.byteLength(r.raw_request) + Buffer.byteLength(r.raw_response) + OTHER_FIELDS_BYTES;
}

export interface Sized<T> {
  readonly item: T;
  readonly bytes: number;
}

/**
 * Greedy packing. `inclusive` lets a batch reach the limit exactly (the raw pump's `<=`); the selective
 * pump packs while strictly below it. An item larger than the limit still gets a batch of its own.
 */
export function packBySize<T>(items: readonly Sized<T>[], maxBatchBytes: number, inclusive: boolean): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let running = 0;
  for (const { item, bytes } of items) {
    const fits = inclusive ? running + bytes <= maxBatchBytes : running + bytes < maxBatchBytes;
    if (!fits && current.length > 0) {
      batches.push(current);
      current = [];
      running = 0;
    }
    current.push(item);
    running += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
