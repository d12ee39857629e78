import type { Cluster, Redis } from 'ioredis';
import { encodeAnalyticsMsgpack, encodeAnalyticsProtobuf, encodeUptimeMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsKeys, inflightIndexKey, uptimeKey } from '../../src/source/source-keys.js';
import type { TestDatabase } from './postgres.js';
import { uptimeMsgpackFixtures } from './fixtures.js';
import { BASE_RECORD } from './records.js';

/*
 * What a fleet of gateways writes, on every list Sluice drains: msgpack records on the 11 plain analytics
 * keys, protobuf records on the 11 `_protobuf` keys, host-checker reports on the uptime key. Every record
 * is told apart by its path (analytics) or url (uptime), so a test can count each one in the stores.
 */

/** A plain REST record from the fixtures with its path set, as msgpack or protobuf gateways write it. */
export function analyticsElement(path: string, encoding: 'msgpack' | 'protobuf'): Buffer {
  const record = { ...BASE_RECORD, raw_request: '', raw_response: '', path, raw_path: path };
  return encoding === 'msgpack' ? encodeAnalyticsMsgpack(record) : encodeAnalyticsProtobuf(record);
}

const BASE_UPTIME = uptimeMsgpackFixtures()[0]!.record;

/** A host-checker report from the fixtures with its url set. */
export function uptimeElement(url: string): Buffer {
  return encodeUptimeMsgpack({ ...BASE_UPTIME, url });
}

/** Elements per gateway list, and the path or url of each record, to be found again in the stores. */
export interface GatewayTraffic {
  readonly byKey: Map<string, Buffer[]>;
  readonly paths: string[];
  readonly urls: string[];
}

export interface TrafficSize {
  /** Analytics records, spread round-robin over the 22 analytics keys. */
  analytics: number;
  /** Host-checker reports on the uptime key (which Tyk never prefixes); default none. */
  uptime?: number;
}

/** Records of `label`: paths `/<label>/<encoding>/<i>`, urls `http://<label>.test/<i>`. */
export function gatewayTraffic(prefix: string, label: string, size: TrafficSize): GatewayTraffic {
  const keys = analyticsKeys(prefix);
  const byKey = new Map<string, Buffer[]>(keys.map((k) => [k.name, []]));
  const paths: string[] = [];
  for (let i = 0; i < size.analytics; i++) {
    const key = keys[i % keys.length]!;
    const path = `/${label}/${key.encoding}/${i}`;
    byKey.get(key.name)!.push(analyticsElement(path, key.encoding as 'msgpack' | 'protobuf'));
    paths.push(path);
  }
  const urls = Array.from({ length: size.uptime ?? 0 }, (_, i) => `http://${label}.test/${i}`);
  if (urls.length > 0) byKey.set(uptimeKey().name, urls.map(uptimeElement));
  return { byKey, paths, urls };
}

/**
 * RPUSHes each key's elements in order, a thousand per command. Works on Cluster too: every command
 * holds one key, so it goes to that key's node.
 */
export async function pushTraffic(redis: Redis | Cluster, byKey: ReadonlyMap<string, readonly Buffer[]>): Promise<void> {
  await Promise.all([...byKey].map(async ([key, elements]) => {
    for (let start = 0; start < elements.length; start += 1000) await redis.rpush(key, ...elements.slice(start, start + 1000));
  }));
}

/** The gateway lists and their in-flight indexes that still hold anything (no SCAN, so Cluster works). */
export async function undrainedKeys(redis: Redis | Cluster, keys: Iterable<string>): Promise<string[]> {
  const candidates = [...keys].flatMap((key) => [key, inflightIndexKey(key)]);
  const present = await Promise.all(candidates.map(async (key) => ((await redis.exists(key)) ? key : '')));
  return present.filter(Boolean);
}

/** Rows in tyk_analytics per path under `/<label>/`; empty before the sink has created the table. */
export async function rowsByPath(db: TestDatabase, label: string): Promise<Map<string, number>> {
  const table = await db.pool.query(`SELECT to_regclass('tyk_analytics') AS t`);
  if (table.rows[0].t === null) return new Map();
  const result = await db.pool.query('SELECT path, count(*)::int AS n FROM tyk_analytics WHERE path LIKE $1 GROUP BY path', [`/${label}/%`]);
  return new Map(result.rows.map((r) => [r.path as string, r.n as number]));
}

export function total(counts: ReadonlyMap<string, number>): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}

/** How often each id occurs in `ids`: the multiset a store must end up holding. */
export function multiset(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}
