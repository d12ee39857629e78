import type { GoTime } from '../record/go-time.js';

/*
 * Time buckets. Tyk puts every record of an org in a batch into the bucket of the org's first record, in
 * the Pump host's zone, and for Mongo keeps a process-global "last bucket" (W11, W13, W28). Sluice puts
 * each record into the bucket of its own instant, computed in UTC, with no state: any worker, any batch
 * split, the same bucket.
 */

export const HOURLY = 60;

/**
 * Minutes per bucket from Tyk's options: 1 with store_analytics_per_minute, otherwise aggregation_time
 * when it is within 1–60, otherwise 60 (Tyk resets out-of-range values to 60 too).
 */
export function bucketMinutes(storePerMinute: boolean, aggregationTime: number = HOURLY): number {
  if (storePerMinute) return 1;
  return Number.isInteger(aggregationTime) && aggregationTime >= 1 && aggregationTime <= HOURLY ? aggregationTime : HOURLY;
}

/**
 * Unix seconds of the start of the bucket holding `time`. Buckets are counted from the start of each UTC
 * hour, so a bucket never spans two hours (the last one of an hour is shorter when `minutes` does not
 * divide 60).
 */
export function bucketStartSec(time: GoTime, minutes: number): number {
  const hourStart = Math.floor(time.sec / 3600) * 3600;
  const minuteOfHour = Math.floor((time.sec - hourStart) / 60);
  return hourStart + Math.floor(minuteOfHour / minutes) * minutes * 60;
}

/** Map key of an (org, bucket) pair in the aggregation results. */
export function bucketKey(orgId: string, bucketStartSec: number): string {
  return `${bucketStartSec}:${orgId}`;
}
