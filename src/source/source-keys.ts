import type { Encoding } from '../decode/index.js';

/** One gateway list Sluice drains, and how its elements are encoded. */
export interface SourceKey {
  readonly name: string;
  readonly encoding: Encoding;
}

const ANALYTICS_BASE = 'tyk-system-analytics';
const UPTIME_KEY = 'host-checker:tyk-uptime-analytics';

/** Tyk Pump's prefix rule: `key_prefix`, else the deprecated `redis_key_prefix`, else `analytics-`. */
export function analyticsPrefix(storage: { key_prefix: string; redis_key_prefix: string }): string {
  return storage.key_prefix || storage.redis_key_prefix || 'analytics-';
}

/**
 * The 22 analytics keys in Tyk Pump's order (base, then `_0`…`_9`; msgpack before protobuf for each), so
 * the same gateways are drained whether `enable_multiple_analytics_keys` and protobuf are on or not.
 */
export function analyticsKeys(prefix: string): SourceKey[] {
  const shards = ['', ...Array.from({ length: 10 }, (_, i) => `_${i}`)];
  return shards.flatMap((shard) => [
    { name: `${prefix}${ANALYTICS_BASE}${shard}`, encoding: 'msgpack' as const },
    { name: `${prefix}${ANALYTICS_BASE}${shard}_protobuf`, encoding: 'protobuf' as const },
  ]);
}

export function uptimeKey(): SourceKey {
  return { name: UPTIME_KEY, encoding: 'uptime' };
}

/*
 * In-flight lists and their index carry the source key as a hash tag, so they live in the source key's
 * Redis Cluster slot (a key without braces hashes whole, and so does the tag) and one script can touch
 * all of them on any topology without changing what the gateway writes.
 */

export function inflightIndexKey(source: string): string {
  return `{${source}}:inflight`;
}

export function inflightListKey(source: string, worker: string, seq: number): string {
  return `{${source}}:inflight:${worker}:${seq}`;
}

/** The worker that holds an in-flight list, read back from its name. */
export function inflightOwner(inflightKey: string): string {
  const parts = inflightKey.slice(inflightKey.lastIndexOf('}') + 1).split(':');
  return parts.slice(2, -1).join(':');
}
