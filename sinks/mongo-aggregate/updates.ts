import type { Document, UpdateFilter } from 'mongodb';
import type { Counter } from '../../src/aggregate/counter.js';
import { FLAT_DIMENSIONS, NESTED_DIMENSIONS } from '../../src/aggregate/dimensions.js';
import { timeToDate } from '../../src/record/go-time.js';
import type { MongoBucket } from './mongo-bucket.js';

/*
 * The two updates that keep an aggregate document in Tyk's shape (reference §5, §6.4). The first adds
 * the batch's counts with $inc/$max/$min, so concurrent writers never lose each other's counts. The
 * second recomputes, from the document the first returned, what Tyk derives: averages, `errorlist` and
 * the `lists.*` arrays. On a replica set both run in the batch's transaction (W14).
 *
 * Deliberate differences from Tyk: connection and byte counters are summed ($inc) where Tyk overwrites
 * them ($set); `lasttime` and `expireAt` only move forward ($max) whatever order batches arrive in; and
 * list entries carry the new `requesttime`, where Tyk's carry the average of the previous write.
 */

/** Tyk only lowers a minimum with a counter that has a non-error hit. */
function lowersMinimum(c: Counter): boolean {
  return c.hits !== c.errorTotal;
}

/** A counter as stored, with the derived fields (used to size entries before they are written). */
export function storedCounter(c: Counter): Document {
  return withDerivedFields({
    hits: c.hits, success: c.success, errortotal: c.errorTotal, totalrequesttime: c.totalRequestTime,
    identifier: c.identifier, humanidentifier: c.humanIdentifier, lasttime: timeToDate(c.lastTime),
    openconnections: c.openConnections, closedconnections: c.closedConnections, bytesin: c.bytesIn, bytesout: c.bytesOut,
    maxupstreamlatency: c.maxUpstreamLatency, minupstreamlatency: c.minUpstreamLatency, totalupstreamlatency: c.totalUpstreamLatency,
    maxlatency: c.maxLatency, minlatency: c.minLatency, totallatency: c.totalLatency, errormap: Object.fromEntries(c.errorMap),
  });
}

interface UpdateParts {
  $inc: Record<string, number>;
  $set: Record<string, unknown>;
  $max: Record<string, unknown>;
  $min: Record<string, number>;
}

function addCounter(u: UpdateParts, path: string, c: Counter): void {
  const sums: Array<[string, number]> = [
    ['hits', c.hits], ['success', c.success], ['errortotal', c.errorTotal], ['totalrequesttime', c.totalRequestTime],
    ['totallatency', c.totalLatency], ['totalupstreamlatency', c.totalUpstreamLatency],
    ['openconnections', c.openConnections], ['closedconnections', c.closedConnections], ['bytesin', c.bytesIn], ['bytesout', c.bytesOut],
  ];
  for (const [field, value] of sums) u.$inc[`${path}.${field}`] = value;
  for (const [code, count] of c.errorMap) u.$inc[`${path}.errormap.${code}`] = count;
  u.$set[`${path}.identifier`] = c.identifier;
  u.$set[`${path}.humanidentifier`] = c.humanIdentifier;
  u.$max[`${path}.lasttime`] = timeToDate(c.lastTime);
  u.$max[`${path}.maxlatency`] = c.maxLatency;
  u.$max[`${path}.maxupstreamlatency`] = c.maxUpstreamLatency;
  if (lowersMinimum(c)) {
    u.$min[`${path}.minlatency`] = c.minLatency;
    u.$min[`${path}.minupstreamlatency`] = c.minUpstreamLatency;
  }
}

/** Update #1: the batch's counts, for the document matched by {orgid, timestamp}. */
export function countsUpdate(bucket: MongoBucket): UpdateFilter<Document> {
  const u: UpdateParts = { $inc: {}, $set: {}, $max: {}, $min: {} };
  for (const dimension of FLAT_DIMENSIONS) {
    for (const [key, counter] of bucket.flat[dimension]) addCounter(u, `${dimension}.${key}`, counter);
  }
  for (const dimension of NESTED_DIMENSIONS) {
    for (const [outer, counters] of bucket.nested[dimension]) {
      for (const [inner, counter] of counters) addCounter(u, `${dimension}.${outer}.${inner}`, counter);
    }
  }
  addCounter(u, 'total', bucket.aggregate.total);
  const start = new Date(bucket.bucketStartSec * 1000);
  Object.assign(u.$set, {
    'timeid.year': start.getUTCFullYear(), 'timeid.month': start.getUTCMonth() + 1,
    'timeid.day': start.getUTCDate(), 'timeid.hour': start.getUTCHours(),
  });
  u.$max.lasttime = timeToDate(bucket.aggregate.lastTime);
  u.$max.expireAt = timeToDate(bucket.aggregate.expireAt);
  const { $min, ...rest } = u;
  return Object.keys($min).length > 0 ? { ...rest, $min } : rest;
}

function ratio(total: unknown, hits: unknown): number {
  return typeof hits === 'number' && hits > 0 && typeof total === 'number' ? total / hits : 0;
}

/** Tyk's error list: the error map as [{code, count}], sorted by code as text. */
function errorList(errorMap: unknown): Array<{ code: string; count: number }> {
  const entries = Object.entries((errorMap ?? {}) as Record<string, number>);
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([code, count]) => ({ code, count }));
}

const DERIVED_FIELDS = ['requesttime', 'latency', 'upstreamlatency', 'errorlist'] as const;

function withDerivedFields(c: Document): Document {
  return {
    ...c,
    requesttime: ratio(c.totalrequesttime, c.hits),
    latency: ratio(c.totallatency, c.hits),
    upstreamlatency: ratio(c.totalupstreamlatency, c.hits),
    errorlist: errorList(c.errormap),
  };
}

function counters(map: unknown): Array<[string, Document]> {
  return Object.entries((map ?? {}) as Record<string, Document>);
}

/** Update #2: averages, error lists and `lists.*` for every counter the document holds. */
export function derivedUpdate(doc: Document): UpdateFilter<Document> {
  const $set: Record<string, unknown> = {};
  const setDerived = (path: string, counter: Document): Document => {
    const derived = withDerivedFields(counter);
    for (const field of DERIVED_FIELDS) $set[`${path}.${field}`] = derived[field];
    return derived;
  };
  for (const dimension of FLAT_DIMENSIONS) {
    $set[`lists.${dimension}`] = counters(doc[dimension]).map(([key, c]) => setDerived(`${dimension}.${key}`, c));
  }
  for (const dimension of NESTED_DIMENSIONS) {
    const lists: Record<string, Document[]> = {};
    for (const [outer, inner] of counters(doc[dimension])) {
      lists[outer] = counters(inner).map(([key, c]) => setDerived(`${dimension}.${outer}.${key}`, c));
    }
    $set[`lists.${dimension}`] = lists;
  }
  setDerived('total', doc.total as Document);
  return { $set };
}
