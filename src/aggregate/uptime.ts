import { ZERO_TIME, type GoTime } from '../record/go-time.js';
import type { UptimeRecord } from '../record/uptime-record.js';
import { HOURLY, bucketKey, bucketStartSec } from './bucket.js';
import { EMPTY_COUNTER, accumulate, accumulatorOf, addTo, latest, requestCounter, type Counter, type CounterAccumulator } from './counter.js';
import { TOTAL_DIMENSION, TOTAL_VALUE, type DimensionEntry } from './dimensions.js';

/*
 * Tyk's AggregateUptimeData (reference §7.4): host-checker reports per org and hour, by URL and by error
 * code. Each report lands in the hour of its own time (W11). The error map doubles as a response-code map,
 * so it counts 2xx codes as well as errors and fills the code_2xx columns.
 */

export interface UptimeAggregate<C extends Counter = Counter> {
  readonly orgId: string;
  readonly bucketStartSec: number;
  readonly expireAt: GoTime;
  readonly lastTime: GoTime;
  readonly url: ReadonlyMap<string, C>;
  readonly errors: ReadonlyMap<string, C>;
  readonly total: C;
}

interface MutableUptimeAggregate {
  orgId: string;
  bucketStartSec: number;
  expireAt: GoTime;
  lastTime: GoTime;
  url: Map<string, CounterAccumulator>;
  errors: Map<string, CounterAccumulator>;
  total: CounterAccumulator;
}

const mapsUptimeCode = (code: number) => code >= 400 || (code >= 200 && code < 300);

function addReport(agg: MutableUptimeAggregate, report: UptimeRecord): void {
  if (report.response_code === -1) {
    // A failed check with no response: the URL is listed, nothing is counted.
    const seen = { ...EMPTY_COUNTER, lastTime: report.timestamp };
    accumulate(agg.total, seen);
    if (report.url !== '') addTo(agg.url, report.url, seen, report.url, '');
    return;
  }
  const c = requestCounter({
    responseCode: report.response_code,
    requestTime: report.request_time,
    latency: 0,
    upstreamLatency: 0,
    time: report.timestamp,
    mapsCode: mapsUptimeCode,
  });
  accumulate(agg.total, c);
  if (report.url !== '') addTo(agg.url, report.url, c, report.url, '');
  if (c.errorTotal > 0) {
    const code = String(report.response_code);
    addTo(agg.errors, code, c, code, '');
  }
}

/** Host-checker reports folded one at a time into one UptimeAggregate per (org, hour), keyed by bucketKey. */
export class UptimeAggregation {
  private readonly mutable = new Map<string, MutableUptimeAggregate>();
  /** Reports that counted; those without an org are skipped. */
  counted = 0;

  add(report: UptimeRecord): void {
    if (report.org_id === '') return;
    this.counted += 1;
    const start = bucketStartSec(report.timestamp, HOURLY);
    const key = bucketKey(report.org_id, start);
    let agg = this.mutable.get(key);
    if (!agg) {
      agg = { orgId: report.org_id, bucketStartSec: start, expireAt: ZERO_TIME, lastTime: ZERO_TIME, url: new Map(), errors: new Map(), total: accumulatorOf(EMPTY_COUNTER) };
      this.mutable.set(key, agg);
    }
    agg.lastTime = latest(agg.lastTime, report.timestamp);
    agg.expireAt = latest(agg.expireAt, report.ExpireAt);
    addReport(agg, report);
  }

  get buckets(): ReadonlyMap<string, UptimeAggregate> {
    return this.mutable;
  }

  /** The buckets with the counters themselves, for a caller that takes them over and adds no more reports. */
  take(): ReadonlyMap<string, UptimeAggregate<CounterAccumulator>> {
    return this.mutable;
  }
}

export function aggregateUptimeRecords(reports: Iterable<UptimeRecord>): ReadonlyMap<string, UptimeAggregate> {
  const aggregation = new UptimeAggregation();
  for (const report of reports) aggregation.add(report);
  return aggregation.buckets;
}

/** Tyk's order: url entries, then error entries, then ""/total. */
export function uptimeDimensionEntries<C extends Counter>(agg: UptimeAggregate<C>): Array<DimensionEntry<C>> {
  return [
    ...[...agg.url].map(([value, counter]) => ({ dimension: 'url', value, counter })),
    ...[...agg.errors].map(([value, counter]) => ({ dimension: 'errors', value, counter })),
    { dimension: TOTAL_DIMENSION, value: TOTAL_VALUE, counter: agg.total },
  ];
}
