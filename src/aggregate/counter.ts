import { ZERO_TIME, type GoTime } from '../record/go-time.js';

/*
 * Tyk's aggregate Counter (reference §4.1) and the one way two counters combine. The merge is associative
 * and commutative, with EMPTY_COUNTER as its identity, so a bucket's counters come out the same whatever
 * order its records arrive in and however they are split into batches; the SQL upsert repeats the same
 * rules server-side (sinks/postgres-aggregate/sql/upsert-aggregate-rows.sql).
 */

export interface Counter {
  readonly hits: number;
  readonly success: number;
  readonly errorTotal: number;
  /** Always totalRequestTime / hits (0 without hits). */
  readonly requestTime: number;
  readonly totalRequestTime: number;
  readonly identifier: string;
  readonly humanIdentifier: string;
  /** The latest record time counted (Tyk: the last one processed). */
  readonly lastTime: GoTime;
  readonly openConnections: number;
  readonly closedConnections: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly maxUpstreamLatency: number;
  readonly minUpstreamLatency: number;
  readonly totalUpstreamLatency: number;
  /** Always totalUpstreamLatency / hits. */
  readonly upstreamLatency: number;
  readonly maxLatency: number;
  readonly minLatency: number;
  readonly totalLatency: number;
  /** Always totalLatency / hits. */
  readonly latency: number;
  /** Response code (decimal string) to count. */
  readonly errorMap: Readonly<Record<string, number>>;
}

export const EMPTY_COUNTER: Counter = Object.freeze({
  hits: 0, success: 0, errorTotal: 0, requestTime: 0, totalRequestTime: 0,
  identifier: '', humanIdentifier: '', lastTime: ZERO_TIME,
  openConnections: 0, closedConnections: 0, bytesIn: 0, bytesOut: 0,
  maxUpstreamLatency: 0, minUpstreamLatency: 0, totalUpstreamLatency: 0, upstreamLatency: 0,
  maxLatency: 0, minLatency: 0, totalLatency: 0, latency: 0,
  errorMap: Object.freeze({}),
});

/** What one request adds: a counter of one hit. */
export interface RequestFacts {
  readonly responseCode: number;
  readonly requestTime: number;
  readonly latency: number;
  readonly upstreamLatency: number;
  readonly time: GoTime;
  /** Codes that go into the error map: Tyk counts ≥ 400 for analytics, and 2xx too for uptime. */
  readonly mapsCode: (code: number) => boolean;
}

export function requestCounter(facts: RequestFacts): Counter {
  const code = facts.responseCode;
  return withAverages({
    ...EMPTY_COUNTER,
    hits: 1,
    success: code >= 200 && code < 300 ? 1 : 0,
    errorTotal: code >= 400 ? 1 : 0,
    totalRequestTime: facts.requestTime,
    lastTime: facts.time,
    maxUpstreamLatency: facts.upstreamLatency,
    minUpstreamLatency: facts.upstreamLatency,
    totalUpstreamLatency: facts.upstreamLatency,
    maxLatency: facts.latency,
    minLatency: facts.latency,
    totalLatency: facts.latency,
    errorMap: facts.mapsCode(code) ? { [String(code)]: 1 } : {},
  });
}

/** The same counts under a dimension's own labels. */
export function labelled(counter: Counter, identifier: string, humanIdentifier: string): Counter {
  return { ...counter, identifier, humanIdentifier };
}

/**
 * Which contributions may set a minimum: hits that are not errors outrank error-only hits, which outrank
 * no hits at all. Tyk sets a minimum from the first hit and then lowers it only with non-error hits; a
 * rule that names no "first" is the only one that gives the same answer for every order and split.
 */
function minimumRank(c: Counter): number {
  if (c.hits > c.errorTotal) return 2;
  return c.hits > 0 ? 1 : 0;
}

function mergeMinimum(a: Counter, b: Counter, field: 'minLatency' | 'minUpstreamLatency'): number {
  const rankA = minimumRank(a);
  const rankB = minimumRank(b);
  if (rankA === rankB) return Math.min(a[field], b[field]);
  return rankA > rankB ? a[field] : b[field];
}

function compareNanos(a: GoTime, b: GoTime): number {
  return a.sec - b.sec || a.nsec - b.nsec;
}

/** Later of two instants, at nanosecond precision. */
export function latest(a: GoTime, b: GoTime): GoTime {
  return compareNanos(a, b) >= 0 ? a : b;
}

/** PostgreSQL keeps microseconds, so ties are decided at that precision on both sides. */
function compareMicros(a: GoTime, b: GoTime): number {
  return a.sec - b.sec || Math.floor(a.nsec / 1000) - Math.floor(b.nsec / 1000);
}

/** The label of the most recent contribution (an API renamed, a key re-aliased); ties: the greater. */
function latestHumanIdentifier(a: Counter, b: Counter): string {
  const order = compareMicros(a.lastTime, b.lastTime);
  if (order !== 0) return order > 0 ? a.humanIdentifier : b.humanIdentifier;
  return a.humanIdentifier >= b.humanIdentifier ? a.humanIdentifier : b.humanIdentifier;
}

function mergeCodeMaps(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const merged: Record<string, number> = { ...a };
  for (const [code, count] of Object.entries(b)) merged[code] = (merged[code] ?? 0) + count;
  return merged;
}

function ratio(total: number, hits: number): number {
  return hits > 0 ? total / hits : 0;
}

function withAverages(c: Counter): Counter {
  return {
    ...c,
    requestTime: ratio(c.totalRequestTime, c.hits),
    latency: ratio(c.totalLatency, c.hits),
    upstreamLatency: ratio(c.totalUpstreamLatency, c.hits),
  };
}

export function mergeCounters(a: Counter, b: Counter): Counter {
  return withAverages({
    hits: a.hits + b.hits,
    success: a.success + b.success,
    errorTotal: a.errorTotal + b.errorTotal,
    requestTime: 0,
    totalRequestTime: a.totalRequestTime + b.totalRequestTime,
    identifier: a.identifier !== '' ? a.identifier : b.identifier,
    humanIdentifier: latestHumanIdentifier(a, b),
    lastTime: latest(a.lastTime, b.lastTime),
    openConnections: a.openConnections + b.openConnections,
    closedConnections: a.closedConnections + b.closedConnections,
    bytesIn: a.bytesIn + b.bytesIn,
    bytesOut: a.bytesOut + b.bytesOut,
    maxUpstreamLatency: Math.max(a.maxUpstreamLatency, b.maxUpstreamLatency),
    minUpstreamLatency: mergeMinimum(a, b, 'minUpstreamLatency'),
    totalUpstreamLatency: a.totalUpstreamLatency + b.totalUpstreamLatency,
    upstreamLatency: 0,
    maxLatency: Math.max(a.maxLatency, b.maxLatency),
    minLatency: mergeMinimum(a, b, 'minLatency'),
    totalLatency: a.totalLatency + b.totalLatency,
    latency: 0,
    errorMap: mergeCodeMaps(a.errorMap, b.errorMap),
  });
}

/** Adds `counter` under `key`, merging with what is there. */
export function addTo(map: Map<string, Counter>, key: string, counter: Counter): void {
  const existing = map.get(key);
  map.set(key, existing ? mergeCounters(existing, counter) : counter);
}

