import type { Cluster, Redis } from 'ioredis';
import { encodeAnalyticsMsgpack, encodeAnalyticsProtobuf, encodeUptimeMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsKeys, inflightIndexKey, uptimeKey, type SourceKey } from '../../src/source/source-keys.js';
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

/** Paths look like `/<label>/<encoding>/<key index>/<i>`; urls like `http://<label>.test/<i>`. */
function elementsFor(key: SourceKey, keyIndex: number, label: string, count: number): { elements: Buffer[]; ids: string[] } {
  const ids = Array.from({ length: count }, (_, i) =>
    key.encoding === 'uptime' ? `http://${label}.test/${i}` : `/${label}/${key.encoding}/${keyIndex}/${i}`);
  const elements = ids.map((id) => (key.encoding === 'uptime' ? uptimeElement(id) : analyticsElement(id, key.encoding)));
  return { elements, ids };
}

/**
 * `perKey` distinct records on each of the 22 analytics keys of `prefix`, and `uptime` reports on the
 * uptime key (which Tyk never prefixes; 0 leaves it out).
 */
export function gatewayTraffic(prefix: string, label: string, perKey: number, uptime = 0): GatewayTraffic {
  const byKey = new Map<string, Buffer[]>();
  const paths: string[] = [];
  const urls: string[] = [];
  analyticsKeys(prefix).forEach((key, keyIndex) => {
    const { elements, ids } = elementsFor(key, keyIndex, label, perKey);
    byKey.set(key.name, elements);
    paths.push(...ids);
  });
  if (uptime > 0) {
    const { elements, ids } = elementsFor(uptimeKey(), 0, label, uptime);
    byKey.set(uptimeKey().name, elements);
    urls.push(...ids);
  }
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
