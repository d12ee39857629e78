import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { OWNER, isAbandoned } from './owner.js';
import { analyticsKeys, inflightIndexKey } from '../../src/source/source-keys.js';
import { RETRY_QUEUE_PREFIX, retryQueueName } from '../../src/delivery/retry-queue.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A key prefix no other test uses, so test files can share the one Redis. It names its process (owner.ts),
 * so that keys a killed test or benchmark left behind can be found (deleteAbandonedKeys).
 */
export function uniquePrefix(label: string): string {
  return `t-${label}-${OWNER}-${randomBytes(3).toString('hex')}-`;
}

/**
 * Deletes the keys under prefixes of processes that have ended: gateway, staged and in-flight lists, dead
 * letters, BullMQ's retry queues (their names hold the prefix too). Returns how many.
 */
export async function deleteAbandonedKeys(): Promise<number> {
  const redis = redisClient();
  try {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', '*t-*', 'COUNT', 1000);
      cursor = next;
      const abandoned = keys.filter((key) => /(^|[{:-])t-/.test(key) && isAbandoned(key));
      if (abandoned.length > 0) deleted += await redis.del(...abandoned);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key matching a SCAN pattern; for keys a test or bench cannot name one by one (BullMQ's). */
export async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** The keys of the retry queues of every pump draining `keyPrefix` (retry-queue.ts names them). */
export function retryQueueKeys(keyPrefix: string): string {
  return `${RETRY_QUEUE_PREFIX}:${retryQueueName('', keyPrefix)}*`;
}

export function redisClient(): Redis {
  return new Redis(REDIS_URL);
}

/** The 11 msgpack keys of a prefix (base and _0…_9), where a gateway with multiple keys writes. */
export function msgpackKeys(prefix: string): string[] {
  return analyticsKeys(prefix).filter((k) => k.encoding === 'msgpack').map((k) => k.name);
}

/** RPUSHes elements round-robin over keys, in pipelines, as gateways do. */
export async function pushRoundRobin(redis: Redis, keys: readonly string[], elements: readonly Buffer[]): Promise<void> {
  for (let start = 0; start < elements.length; start += 5000) {
    const pipe = redis.pipeline();
    elements.slice(start, start + 5000).forEach((e, i) => pipe.rpush(keys[(start + i) % keys.length]!, e));
    await pipe.exec();
  }
}

/** True once every gateway list of `keys` and its in-flight index are empty: all claimed and acknowledged. */
export async function drained(redis: Redis, keys: readonly string[]): Promise<boolean> {
  const pipe = redis.pipeline();
  for (const key of keys) pipe.llen(key).zcard(inflightIndexKey(key));
  const replies = (await pipe.exec()) ?? [];
  return replies.every(([err, n]) => !err && n === 0);
}

/** Gateway lists and Sluice's in-flight lists of a prefix that still hold anything. */
export async function leftoverKeys(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  // Index sorted sets are removed by Redis when their last member goes.
  return found;
}

/** Where `stage` puts a gateway list's elements until `release` moves them in. */
function stagedKey(key: string): string {
  return `staged:${key}`;
}

/**
 * RPUSHes elements round-robin over lists Sluice does not drain, so a benchmark can start Sluice first and
 * time the drain alone: `releaseStaged` then renames them onto the gateway lists in one MULTI.
 */
export async function stageRoundRobin(redis: Redis, keys: readonly string[], elements: readonly Buffer[]): Promise<void> {
  await pushRoundRobin(redis, keys.map(stagedKey), elements);
}

export async function releaseStaged(redis: Redis, keys: readonly string[]): Promise<void> {
  const multi = redis.multi();
  for (const key of keys) multi.rename(stagedKey(key), key);
  await multi.exec();
}
