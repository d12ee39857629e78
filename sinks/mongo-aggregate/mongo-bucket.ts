import { BSON, type Document } from 'mongodb';
import type { OrgAggregate } from '../../src/aggregate/analytics.js';
import { EMPTY_COUNTER, labelled, mergeCounters, type Counter } from '../../src/aggregate/counter.js';
import { FLAT_DIMENSIONS, NESTED_DIMENSIONS, type FlatDimension, type NestedDimension } from '../../src/aggregate/dimensions.js';
import { OTHER_KEY, escapeKey } from './keys.js';
import { storedCounter } from './updates.js';

/*
 * One (org, bucket) aggregate as it will be written to MongoDB: every key escaped into a legal field name,
 * and trimmed to the document's size budget. Tyk lets a document grow until MongoDB refuses it at 16 MB
 * and then re-runs the whole write with shorter buckets, counting some orgs twice (W12). Sluice instead
 * checks, before writing, how much room the document has: an entry the document does not hold yet and
 * that would not fit is folded into the dimension's `other` entry (OTHER_KEY), so its hits are still
 * counted and the caller reports how many entries were folded.
 */

/** Well under 16 MB: two writers without a transaction can each fill it and the document still fits. */
export const DOCUMENT_BUDGET_BYTES = 6 * 1024 * 1024;

export interface MongoBucket {
  readonly orgId: string;
  readonly bucketStartSec: number;
  readonly aggregate: OrgAggregate;
  readonly flat: Record<FlatDimension, Map<string, Counter>>;
  readonly nested: Record<NestedDimension, Map<string, Map<string, Counter>>>;
}

function escapedMap(map: ReadonlyMap<string, Counter>): Map<string, Counter> {
  return new Map([...map].map(([key, counter]) => [escapeKey(key), counter]));
}

export function toMongoBucket(aggregate: OrgAggregate): MongoBucket {
  const flat = Object.fromEntries(FLAT_DIMENSIONS.map((d) => [d, escapedMap(aggregate.flat[d])])) as MongoBucket['flat'];
  const nested = Object.fromEntries(
    NESTED_DIMENSIONS.map((d) => [d, new Map([...aggregate.nested[d]].map(([outer, inner]) => [escapeKey(outer), escapedMap(inner)]))]),
  ) as MongoBucket['nested'];
  return { orgId: aggregate.orgId, bucketStartSec: aggregate.bucketStartSec, aggregate, flat, nested };
}

export interface FoldedEntries {
  readonly dimension: string;
  readonly entries: number;
}

/**
 * The most a counter with empty labels and no error codes takes in BSON: every number sized as a double.
 * Measuring each entry with BSON instead costs seconds on a batch with tens of thousands of entries.
 */
const WIDEST_COUNTER = Object.fromEntries(Object.entries(EMPTY_COUNTER).map(([k, v]) => [k, typeof v === 'number' ? 0.5 : v])) as unknown as Counter;
const COUNTER_BYTES = BSON.calculateObjectSize({ '': storedCounter(WIDEST_COUNTER) });
/** One code in `errormap` plus its `{code, count}` in `errorlist`, generously. */
const ERROR_CODE_BYTES = 64;

/** An entry is stored twice, in its dimension map and in the matching `lists` array. */
function entryBytes(key: string, counter: Counter): number {
  const labels = Buffer.byteLength(key) + Buffer.byteLength(counter.identifier) + Buffer.byteLength(counter.humanIdentifier);
  return 2 * (COUNTER_BYTES + labels + counter.errorMap.size * ERROR_CODE_BYTES);
}

function holds(existing: Document | null, path: readonly string[]): boolean {
  let node: unknown = existing;
  for (const step of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, step)) return false;
    node = (node as Record<string, unknown>)[step];
  }
  return true;
}

function foldInto(map: Map<string, Counter>, counter: Counter): void {
  const other = map.get(OTHER_KEY);
  const relabelled = labelled(counter, 'other', 'other');
  map.set(OTHER_KEY, other ? mergeCounters(other, relabelled) : relabelled);
}

class Budget {
  private used: number;

  constructor(existing: Document | null, private readonly limit: number) {
    this.used = existing ? BSON.calculateObjectSize(existing) : 0;
  }

  /** Takes room for a new entry; false when the document has none left. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }
}

/** Keeps what fits, folds the rest into `other`; the result never holds more than the budget allows. */
export function fitToBudget(bucket: MongoBucket, existing: Document | null, limit = DOCUMENT_BUDGET_BYTES): { bucket: MongoBucket; folded: FoldedEntries[] } {
  const budget = new Budget(existing, limit);
  const folded: FoldedEntries[] = [];
  const flat = {} as MongoBucket['flat'];
  for (const dimension of FLAT_DIMENSIONS) {
    const kept = new Map<string, Counter>();
    let count = 0;
    for (const [key, counter] of bucket.flat[dimension]) {
      if (holds(existing, [dimension, key]) || budget.take(entryBytes(key, counter))) {
        kept.set(key, counter);
      } else {
        foldInto(kept, counter);
        count++;
      }
    }
    flat[dimension] = kept;
    if (count > 0) folded.push({ dimension, entries: count });
  }
  const nested = {} as MongoBucket['nested'];
  for (const dimension of NESTED_DIMENSIONS) {
    const kept = new Map<string, Map<string, Counter>>();
    let count = 0;
    for (const [outer, counters] of bucket.nested[dimension]) {
      for (const [inner, counter] of counters) {
        // The outer key is written twice more: as a field of the dimension and of its `lists` entry.
        const fits = holds(existing, [dimension, outer, inner]) || budget.take(entryBytes(inner, counter) + 4 * Buffer.byteLength(outer));
        const target = fits ? outer : OTHER_KEY;
        if (!kept.has(target)) kept.set(target, new Map());
        if (fits) {
          kept.get(target)!.set(inner, counter);
        } else {
          foldInto(kept.get(target)!, counter);
          count++;
        }
      }
    }
    nested[dimension] = kept;
    if (count > 0) folded.push({ dimension, entries: count });
  }
  return { bucket: { ...bucket, flat, nested }, folded };
}
