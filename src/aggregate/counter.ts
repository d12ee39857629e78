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
  /** Response code (decimal string, as Tyk keys it) to count. A Map: objects keyed by integers like "404"
   *  get sparse element storage in V8, which made merging them the cost of aggregation. */
  readonly errorMap: ReadonlyMap<string, number>;
}

/**
 * The error map of every counter without errors, shared, never written: accumulate gives an accumulator a
 * map of its own at its first error. Most counters have none, and a map each was a large part of the
 * garbage of aggregating.
 */
export const NO_ERRORS: ReadonlyMap<string, number> = new Map<string, number>();

/** Not frozen: copies of a frozen object leave V8's fast object paths, which made aggregation slow. */
export const EMPTY_COUNTER: Counter = {
  hits: 0, success: 0, errorTotal: 0, requestTime: 0, totalRequestTime: 0,
  identifier: '', humanIdentifier: '', lastTime: ZERO_TIME,
  openConnections: 0, closedConnections: 0, bytesIn: 0, bytesOut: 0,
  maxUpstreamLatency: 0, minUpstreamLatency: 0, totalUpstreamLatency: 0, upstreamLatency: 0,
  maxLatency: 0, minLatency: 0, totalLatency: 0, latency: 0,
  errorMap: NO_ERRORS,
};

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
  return {
    hits: 1,
    success: code >= 200 && code < 300 ? 1 : 0,
    errorTotal: code >= 400 ? 1 : 0,
    requestTime: facts.requestTime,
    totalRequestTime: facts.requestTime,
    lastTime: facts.time,
    maxUpstreamLatency: facts.upstreamLatency,
    minUpstreamLatency: facts.upstreamLatency,
    totalUpstreamLatency: facts.upstreamLatency,
    upstreamLatency: facts.upstreamLatency,
    maxLatency: facts.latency,
    minLatency: facts.latency,
    totalLatency: facts.latency,
    latency: facts.latency,
    identifier: '', humanIdentifier: '', openConnections: 0, closedConnections: 0, bytesIn: 0, bytesOut: 0,
    errorMap: facts.mapsCode(code) ? new Map([[String(code), 1]]) : NO_ERRORS,
  };
}

/** The same counts under a dimension's own labels. */
export function labelled(counter: Counter, identifier: string, humanIdentifier: string): Counter {
  return { ...counter, identifier, humanIdentifier };
}

/** A counter being accumulated; only the aggregation that created it may change it. */
export type CounterAccumulator = { -readonly [K in keyof Counter]: Counter[K] };

/**
 * A fresh accumulator holding `c`, optionally relabelled. Every field is written out in one literal, so all
 * accumulators share one V8 shape; a spread with overrides made each one a slower, differently shaped copy.
 */
export function accumulatorOf(c: Counter, identifier = c.identifier, humanIdentifier = c.humanIdentifier): CounterAccumulator {
  return {
    hits: c.hits, success: c.success, errorTotal: c.errorTotal, requestTime: c.requestTime,
    totalRequestTime: c.totalRequestTime, identifier, humanIdentifier, lastTime: c.lastTime,
    openConnections: c.openConnections, closedConnections: c.closedConnections, bytesIn: c.bytesIn, bytesOut: c.bytesOut,
    maxUpstreamLatency: c.maxUpstreamLatency, minUpstreamLatency: c.minUpstreamLatency,
    totalUpstreamLatency: c.totalUpstreamLatency, upstreamLatency: c.upstreamLatency,
    maxLatency: c.maxLatency, minLatency: c.minLatency, totalLatency: c.totalLatency, latency: c.latency,
    errorMap: c.errorMap.size === 0 ? NO_ERRORS : new Map(c.errorMap),
  };
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
function latestHumanIdentifier(a: Counter, bTime: GoTime, bHuman: string): string {
  const order = compareMicros(a.lastTime, bTime);
  if (order !== 0) return order > 0 ? a.humanIdentifier : bHuman;
  return compareLabels(a.humanIdentifier, bHuman) >= 0 ? a.humanIdentifier : bHuman;
}

/**
 * Labels in the order the stores compare them, so a tie is decided the same in a batch and in a merge:
 * PostgreSQL's upsert (collation "C") and MongoDB compare UTF-8 bytes, which is code point order, where
 * JavaScript's `<` compares UTF-16 units (U+FFFD above an emoji). PostgreSQL text holds no NUL, so the SQL
 * sinks drop them (pgText): labels that differ only by NULs are ordered by the rest first.
 */
export function compareLabels(a: string, b: string): number {
  if (a === b) return 0;
  const withoutNul = (s: string) => (s.includes('\0') ? s.replaceAll('\0', '') : s);
  return compareCodePoints(withoutNul(a), withoutNul(b)) || compareCodePoints(a, b);
}

function compareCodePoints(a: string, b: string): number {
  const shared = Math.min(a.length, b.length);
  for (let i = 0; i < shared; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A UTF-16 unit's place in code point order: surrogates (U+10000 and above) after U+E000–U+FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  return unit >= 0xd800 ? unit + 0x2000 : unit;
}

function ratio(total: number, hits: number): number {
  return hits > 0 ? total / hits : 0;
}

function addErrors(into: CounterAccumulator, errors: ReadonlyMap<string, number>): void {
  // An accumulator's map is its own (accumulatorOf copies), or the shared NO_ERRORS until now.
  const own = into.errorMap === NO_ERRORS ? new Map<string, number>() : (into.errorMap as Map<string, number>);
  for (const [code, count] of errors) own.set(code, (own.get(code) ?? 0) + count);
  into.errorMap = own;
}

/**
 * Adds `from` into `into`: the one merge rule. Labels and minima are decided first, from the counts
 * before the addition. `identifier` and `humanIdentifier` label `from` under a dimension (see addTo).
 * Of `from`, only its strings and its lastTime may be kept: a fold reads counters into reused objects
 * and no error map (FoldedTable, whose code_* counts add up beside the counter).
 */
export function accumulate(
  into: CounterAccumulator, from: Counter, identifier = from.identifier, humanIdentifier = from.humanIdentifier,
): void {
  into.identifier = into.identifier !== '' ? into.identifier : identifier;
  into.humanIdentifier = latestHumanIdentifier(into, from.lastTime, humanIdentifier);
  into.minLatency = mergeMinimum(into, from, 'minLatency');
  into.minUpstreamLatency = mergeMinimum(into, from, 'minUpstreamLatency');
  into.lastTime = latest(into.lastTime, from.lastTime);
  into.hits += from.hits;
  into.success += from.success;
  into.errorTotal += from.errorTotal;
  into.totalRequestTime += from.totalRequestTime;
  into.openConnections += from.openConnections;
  into.closedConnections += from.closedConnections;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.maxUpstreamLatency = Math.max(into.maxUpstreamLatency, from.maxUpstreamLatency);
  into.totalUpstreamLatency += from.totalUpstreamLatency;
  into.maxLatency = Math.max(into.maxLatency, from.maxLatency);
  into.totalLatency += from.totalLatency;
  if (from.errorMap.size > 0) addErrors(into, from.errorMap);
  into.requestTime = ratio(into.totalRequestTime, into.hits);
  into.latency = ratio(into.totalLatency, into.hits);
  into.upstreamLatency = ratio(into.totalUpstreamLatency, into.hits);
}

export function mergeCounters(a: Counter, b: Counter): Counter {
  const merged = accumulatorOf(a);
  accumulate(merged, b);
  return merged;
}

/**
 * Adds `counter` under `key` of a map the caller owns, merging with what is there, labelled as the
 * dimension labels it. The labels come as arguments rather than as a relabelled copy of the counter: a
 * record adds its counter to a dozen dimensions, and copies of it were most of aggregation's garbage.
 */
export function addTo(
  map: Map<string, CounterAccumulator>, key: string, counter: Counter,
  identifier = counter.identifier, humanIdentifier = counter.humanIdentifier,
): void {
  const existing = map.get(key);
  if (existing) accumulate(existing, counter, identifier, humanIdentifier);
  else map.set(key, accumulatorOf(counter, identifier, humanIdentifier));
}
