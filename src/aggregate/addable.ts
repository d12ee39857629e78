import type { AnalyticsRecord } from '../record/analytics-record.js';
import type { UptimeRecord } from '../record/uptime-record.js';

/*
 * The values a record may add to SQL aggregate counters. JavaScript adds integers exactly up to 2^53, and
 * the counters' bigint columns hold sums up to 2^63; a value past 2^53 (only a corrupt record has a latency
 * of centuries) would make the sums depend on how records were batched, and past 2^63, or written in
 * exponent form from 10^21, fail the batch's whole upsert. Such a record is refused alone, with its field
 * named, and the rest of its batch is written.
 */

type Fields = ReadonlyArray<readonly [field: string, value: number]>;

function firstUnaddable(fields: Fields): string | undefined {
  for (const [field, value] of fields) {
    if (!Number.isSafeInteger(value)) return `${field}: ${value} is not an integer an aggregate counter adds exactly (at most 2^53 - 1 either side of 0)`;
  }
  return undefined;
}

/** Why an analytics record cannot be added to aggregate counters, or undefined when it can. */
export function unaddableAnalyticsValue(record: AnalyticsRecord): string | undefined {
  const { latency, network } = record;
  // Every record passes through here on an encode thread: the named list is built only for a bad one.
  const safe = Number.isSafeInteger;
  if (safe(record.request_time) && safe(latency.total) && safe(latency.upstream) && safe(network.open_connections)
    && safe(network.closed_connections) && safe(network.bytes_in) && safe(network.bytes_out)) return undefined;
  return firstUnaddable([
    ['RequestTime', record.request_time], ['Latency.Total', latency.total], ['Latency.Upstream', latency.upstream],
    ['Network.OpenConnections', network.open_connections], ['Network.ClosedConnections', network.closed_connections],
    ['Network.BytesIn', network.bytes_in], ['Network.BytesOut', network.bytes_out],
  ]);
}

/** Why an uptime report cannot be added to aggregate counters, or undefined when it can. */
export function unaddableUptimeValue(report: UptimeRecord): string | undefined {
  return Number.isSafeInteger(report.request_time) ? undefined : firstUnaddable([['RequestTime', report.request_time]]);
}
