import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { redisClient } from '../harness/redis.js';
import { startSluice } from '../harness/sluice.js';
import { proxyPostgres, type TcpProxy } from '../harness/tcp-proxy.js';

/*
 * Small probes the delivery fault tests share: rows in a database, the worker's HTTP endpoints, its memory,
 * and the operator CLI's JSON answers; and the database a test can cut off (cuttableStore).
 */

/** Rows in tyk_analytics, 0 before the sink has created the table. */
export async function rowCount(db: TestDatabase): Promise<number> {
  const table = await db.pool.query(`SELECT to_regclass('tyk_analytics') AS t`);
  if (table.rows[0].t === null) return 0;
  return (await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n as number;
}

/** Total rows and distinct paths: equal to each other and to what was pushed means each record exactly once. */
export async function rowsAndDistinctPaths(db: TestDatabase): Promise<{ n: number; d: number }> {
  return (await db.pool.query('SELECT count(*)::int AS n, count(DISTINCT path)::int AS d FROM tyk_analytics')).rows[0];
}

export async function httpStatus(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Sum of a Prometheus series over the label sets that contain every `labels` pair. */
export async function metricSum(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] !== name) continue;
    if (wanted.every((pair) => (match[2] ?? '').includes(pair))) sum += Number(match[3]);
  }
  return sum;
}

/** Runs a CLI command that answers JSON (`status --json`, `dlq list --json`) and parses its stdout. */
export async function cliJson<T>(args: string[]): Promise<T> {
  const sluice = startSluice(args);
  // The answer is stdout alone; the harness's output also holds stderr, where logs go.
  let stdout = '';
  sluice.proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  // 'exit' can come before the last of stdout has been read; 'end' cannot.
  const ended = new Promise((resolve) => sluice.proc.stdout!.once('end', resolve));
  const [code] = await Promise.all([sluice.exited, ended]);
  if (code !== 0) throw new Error(`sluice ${args.join(' ')} exited ${code}:\n${sluice.output.join('\n')}`);
  return JSON.parse(stdout) as T;
}

/** Status as `sluice status --json` prints it, to the depth the tests read. */
export interface StatusJson {
  keys: Array<{ key: string; backlog: number; oldestAgeSeconds: number | null; oldestUnknown: boolean; inflight: Array<{ worker: string; elements: number; leaseExpired: boolean }> }>;
  sinks: Array<{ sink: string; retryBacklog: number; deadBatches: number }>;
  deadLetters: { total: number; groups: Array<{ kind: string; sink: string | null; count: number }> };
}

/**
 * A `sql` pump under a name no other test uses. The name is also its retry queue's (`retry-<name>` in the
 * shared Redis), and a worker consumes whatever job sits in its queue: a shared name would let one test's
 * batches land in another test's database.
 */
export function uniqueSqlPump(label: string, pgUrl: string): { sink: string; pumps: Record<string, unknown> } {
  const name = `${label}_${randomBytes(3).toString('hex')}`;
  return {
    sink: name.toUpperCase(),
    pumps: { [name]: { type: 'sql', meta: { type: 'postgres', connection_string: pgUrl, table_sharding: false } } },
  };
}

/** What a fault test needs to cut a sink off its database: a fresh database behind a proxy, and Redis. */
export interface CuttableStore {
  readonly db: TestDatabase;
  readonly redis: Redis;
  readonly proxy: TcpProxy;
  /** The database's URL through the proxy, for the sink under test. */
  readonly url: string;
}

/** Registers the file's setup (before all) and teardown (after all) of a CuttableStore; read it in tests. */
export function cuttableStore(label: string): CuttableStore {
  let store: CuttableStore | undefined;
  beforeAll(async () => {
    const db = await freshDatabase(label);
    const { proxy, url } = await proxyPostgres(db.url);
    store = { db, redis: redisClient(), proxy, url };
  });
  afterAll(async () => {
    if (!store) return;
    await store.proxy.close();
    await store.redis.quit();
    await store.db.drop();
  });
  const ready = () => {
    if (!store) throw new Error('cuttableStore is set up in beforeAll; read it inside a test');
    return store;
  };
  return {
    get db() {
      return ready().db;
    },
    get redis() {
      return ready().redis;
    },
    get proxy() {
      return ready().proxy;
    },
    get url() {
      return ready().url;
    },
  };
}
