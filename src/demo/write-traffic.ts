import type { Cluster, Redis } from 'ioredis';
import type { PumpConfiguration } from '../config/types.js';
import { analyticsKeys, analyticsPrefix, uptimeKey } from '../source/source-keys.js';
import { sleep } from '../delivery/backoff.js';
import { encodeAnalyticsMsgpack, encodeAnalyticsProtobuf, encodeUptimeMsgpack } from './gateway-encoding.js';
import { analyticsTraffic, random, uptimeTraffic } from './traffic.js';

export interface DemoOptions {
  records: number;
  days: number;
  /** Records per second; 0 writes as fast as Redis takes them. */
  rate: number;
  protobuf: boolean;
  seed: number;
}

export interface DemoWritten {
  analytics: number;
  uptime: number;
}

/** One uptime report per this many analytics records, about what a host checker adds to real traffic. */
const ANALYTICS_PER_UPTIME = 20;
const PIPELINE = 500;

/**
 * Writes demo traffic into the gateway lists as gateways do: one RPUSH per record, spread over the base
 * and `_0`…`_9` keys (as with `enable_multiple_analytics_keys`), msgpack or protobuf, plus uptime reports
 * unless the config leaves uptime data alone.
 */
export async function writeDemoTraffic(redis: Redis | Cluster, config: PumpConfiguration, opts: DemoOptions): Promise<DemoWritten> {
  const encoding = opts.protobuf ? 'protobuf' : 'msgpack';
  const keys = analyticsKeys(analyticsPrefix(config.analytics_storage_config)).filter((k) => k.encoding === encoding).map((k) => k.name);
  const encode = opts.protobuf ? encodeAnalyticsProtobuf : encodeAnalyticsMsgpack;
  const period = { days: opts.days, now: new Date(), seed: opts.seed };
  const analytics = analyticsTraffic(period);
  const uptime = uptimeTraffic(period);
  const pickKey = random(opts.seed + 2);
  const written: DemoWritten = { analytics: 0, uptime: 0 };
  const started = Date.now();
  while (written.analytics < opts.records) {
    const pipe = redis.pipeline();
    const n = Math.min(PIPELINE, opts.records - written.analytics);
    for (let i = 0; i < n; i++) {
      pipe.rpush(keys[Math.floor(pickKey() * keys.length)]!, encode(analytics.next().value));
      written.analytics += 1;
      if (!config.dont_purge_uptime_data && written.analytics % ANALYTICS_PER_UPTIME === 0) {
        pipe.rpush(uptimeKey().name, encodeUptimeMsgpack(uptime.next().value));
        written.uptime += 1;
      }
    }
    await pipe.exec();
    if (opts.rate > 0) await sleep(started + (written.analytics / opts.rate) * 1000 - Date.now());
  }
  return written;
}
