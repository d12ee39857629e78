import { isGraphRecord, isMcpRecord, type AnalyticsRecord } from '../record/analytics-record.js';
import { ZERO_TIME, type GoTime } from '../record/go-time.js';
import { bucketKey, bucketStartSec } from './bucket.js';
import { EMPTY_COUNTER, accumulate, accumulatorOf, addTo, latest, requestCounter, type Counter, type CounterAccumulator } from './counter.js';
import {
  DIMENSION_ORDER, FLAT_DIMENSIONS, NESTED_DIMENSIONS, TOTAL_DIMENSION, TOTAL_VALUE,
  type Dimension, type DimensionEntry, type FlatDimension, type NestedDimension,
} from './dimensions.js';
import { AggregateKeys } from './keys.js';

/*
 * Tyk's AggregateData (reference §4.2) as pure functions over decoded records, shared by the SQL and
 * MongoDB aggregate sinks. Each record lands in the bucket of its own time, per org (W11).
 */

export interface AggregationOptions {
  /** Count every request under endpoints, as if the gateway had set track_path. */
  readonly trackAllPaths: boolean;
  /** Raw tags starting with one of these are not aggregated (nor, always, `key-` tags). */
  readonly ignoreTagPrefixes: readonly string[];
  /** Dimensions not computed at all (`ignore_aggregations`). */
  readonly ignoredDimensions: ReadonlySet<Dimension>;
  /** Bucket length in minutes: 60 hourly, 1 with store_analytics_per_minute (see bucketMinutes). */
  readonly bucketMinutes: number;
}

export interface OrgAggregate<C extends Counter = Counter> {
  readonly orgId: string;
  readonly bucketStartSec: number;
  /** The latest ExpireAt among the bucket's records (Tyk: the first record's). */
  readonly expireAt: GoTime;
  /** The latest record time in the bucket. */
  readonly lastTime: GoTime;
  readonly flat: Readonly<Record<FlatDimension, ReadonlyMap<string, C>>>;
  readonly nested: Readonly<Record<NestedDimension, ReadonlyMap<string, ReadonlyMap<string, C>>>>;
  readonly total: C;
}

/** Records Tyk's AggregateData skips: no org, GraphQL (aggregated separately) and MCP records. */
export function isAggregatable(record: AnalyticsRecord): boolean {
  return record.org_id !== '' && !isGraphRecord(record) && !isMcpRecord(record);
}

interface MutableAggregate {
  orgId: string;
  bucketStartSec: number;
  expireAt: GoTime;
  lastTime: GoTime;
  flat: Record<FlatDimension, Map<string, CounterAccumulator>>;
  nested: Record<NestedDimension, Map<string, Map<string, CounterAccumulator>>>;
  total: CounterAccumulator;
}

function emptyAggregate(orgId: string, start: number): MutableAggregate {
  return {
    orgId,
    bucketStartSec: start,
    expireAt: ZERO_TIME,
    lastTime: ZERO_TIME,
    flat: Object.fromEntries(FLAT_DIMENSIONS.map((d) => [d, new Map()])) as MutableAggregate['flat'],
    nested: Object.fromEntries(NESTED_DIMENSIONS.map((d) => [d, new Map()])) as MutableAggregate['nested'],
    total: accumulatorOf(EMPTY_COUNTER),
  };
}

/** Each distinct tag counts a request once, however many raw tags trim to it. */
function aggregatedTags(record: AnalyticsRecord, keys: AggregateKeys): Set<string> {
  const tags = new Set<string>();
  for (const raw of record.tags ?? []) {
    const tag = keys.tag(raw);
    if (tag !== '') tags.add(tag);
  }
  return tags;
}

/** `ResponseCode == -1` records carry network stats only: the total gets them all, the API its bytes. */
function addNetworkRecord(agg: MutableAggregate, record: AnalyticsRecord, options: AggregationOptions): void {
  const { network } = record;
  const stats: Counter = {
    ...EMPTY_COUNTER,
    lastTime: record.timestamp,
    openConnections: network.open_connections,
    closedConnections: network.closed_connections,
    bytesIn: network.bytes_in,
    bytesOut: network.bytes_out,
  };
  accumulate(agg.total, stats);
  if (record.api_id !== '' && !options.ignoredDimensions.has('apiid')) {
    const bytes = { ...EMPTY_COUNTER, lastTime: record.timestamp, bytesIn: network.bytes_in, bytesOut: network.bytes_out };
    addTo(agg.flat.apiid, record.api_id, bytes, record.api_id, record.api_name);
  }
}

function addNested(map: Map<string, Map<string, CounterAccumulator>>, outer: string, inner: string, counter: Counter): void {
  let counters = map.get(outer);
  if (!counters) map.set(outer, (counters = new Map()));
  addTo(counters, inner, counter, inner, inner);
}

function addRequestRecord(agg: MutableAggregate, record: AnalyticsRecord, options: AggregationOptions, keys: AggregateKeys): void {
  const c = requestCounter({
    responseCode: record.response_code,
    requestTime: record.request_time,
    latency: record.latency.total,
    upstreamLatency: record.latency.upstream,
    time: record.timestamp,
    mapsCode: (code) => code >= 400,
  });
  accumulate(agg.total, c);
  const wanted = (d: Dimension) => !options.ignoredDimensions.has(d);
  const { flat, nested } = agg;
  const { api_id: apiId, api_version: version, api_key: apiKey, oauth_id: oauthId, path } = record;
  const trackPath = options.trackAllPaths || record.track_path;

  if (apiId !== '' && wanted('apiid')) addTo(flat.apiid, apiId, c, apiId, record.api_name);
  if (c.errorTotal > 0 && wanted('errors')) {
    const code = String(record.response_code);
    addTo(flat.errors, code, c, code, '');
  }
  if (version !== '' && wanted('versions')) addTo(flat.versions, keys.versionKey(apiId, version), c, version, version);
  if (apiKey !== '') {
    if (wanted('apikeys')) addTo(flat.apikeys, apiKey, c, apiKey, record.alias);
    if (trackPath && wanted('keyendpoints')) addNested(nested.keyendpoints, apiKey, keys.endpointHash(apiId, path), c);
  }
  if (oauthId !== '') {
    if (wanted('oauthids')) addTo(flat.oauthids, oauthId, c, oauthId, '');
    if (trackPath && wanted('oauthendpoints')) addNested(nested.oauthendpoints, oauthId, keys.endpointHash(apiId, path), c);
  }
  const iso = record.geo.country.iso_code;
  if (iso !== '' && wanted('geo')) addTo(flat.geo, iso, c, iso, iso);
  if (wanted('tags')) {
    for (const tag of aggregatedTags(record, keys)) addTo(flat.tags, tag, c, tag, tag);
  }
  if (trackPath) {
    if (wanted('endpoints')) addTo(flat.endpoints, keys.endpointKey(path), c, path, path);
    if (wanted('apiendpoints')) {
      const key = keys.apiEndpointKey(apiId, version, path);
      addTo(flat.apiendpoints, key, c, key, path);
    }
  }
}

/**
 * Records folded one at a time into one OrgAggregate per (org, bucket), keyed by bucketKey. Skipped
 * records (isAggregatable) contribute nothing; the records are not modified.
 */
export class AnalyticsAggregation {
  private readonly mutable = new Map<string, MutableAggregate>();
  private readonly keys: AggregateKeys;
  /** Records that counted, skipped ones excluded. */
  counted = 0;

  constructor(private readonly options: AggregationOptions) {
    this.keys = new AggregateKeys(options.ignoreTagPrefixes);
  }

  add(record: AnalyticsRecord): void {
    if (!isAggregatable(record)) return;
    this.counted += 1;
    const start = bucketStartSec(record.timestamp, this.options.bucketMinutes);
    const key = bucketKey(record.org_id, start);
    let agg = this.mutable.get(key);
    if (!agg) this.mutable.set(key, (agg = emptyAggregate(record.org_id, start)));
    agg.lastTime = latest(agg.lastTime, record.timestamp);
    agg.expireAt = latest(agg.expireAt, record.expireAt);
    if (record.response_code === -1) addNetworkRecord(agg, record, this.options);
    else addRequestRecord(agg, record, this.options, this.keys);
  }

  get buckets(): ReadonlyMap<string, OrgAggregate> {
    return this.mutable;
  }

  /** The buckets with the counters themselves, for a caller that takes them over and adds no more records. */
  take(): ReadonlyMap<string, OrgAggregate<CounterAccumulator>> {
    return this.mutable;
  }
}

export function aggregateRecords(records: Iterable<AnalyticsRecord>, options: AggregationOptions): ReadonlyMap<string, OrgAggregate> {
  const aggregation = new AnalyticsAggregation(options);
  for (const record of records) aggregation.add(record);
  return aggregation.buckets;
}

/** The aggregate as the flat list of §4.3: dimensions in Tyk's order, then the total. */
export function dimensionEntries<C extends Counter>(agg: OrgAggregate<C>): Array<DimensionEntry<C>> {
  const entries: Array<DimensionEntry<C>> = [];
  for (const dimension of DIMENSION_ORDER) {
    if (dimension === 'keyendpoints' || dimension === 'oauthendpoints') {
      for (const [outer, counters] of agg.nested[dimension]) {
        for (const [inner, counter] of counters) entries.push({ dimension, value: `${outer}.${inner}`, counter });
      }
    } else {
      for (const [value, counter] of agg.flat[dimension]) entries.push({ dimension, value, counter });
    }
  }
  entries.push({ dimension: TOTAL_DIMENSION, value: TOTAL_VALUE, counter: agg.total });
  return entries;
}
