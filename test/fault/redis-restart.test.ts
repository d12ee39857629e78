import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, uniquePrefix } from '../harness/redis.js';
import { startStandalone, type RestartableRedis } from '../harness/redis-servers.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, whileRunning } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import { rowCount } from './delivery-helpers.js';

/*
 * Redis itself goes away mid-flow: a dedicated redis-server (append-only, fsync on every write, so the
 * restart keeps what it acknowledged) is SIGKILLed and started again on the same port while Sluice drains
 * it. Sluice reconnects, takes over or finishes what it had claimed, and PostgreSQL ends with the exact
 * multiset pushed: every record once, none missing.
 */

const BEFORE_RESTART = 20_000;
const AFTER_RESTART = 5_000;

describe('a Redis restart during the flow', () => {
  let db: TestDatabase;
  let server: RestartableRedis;
  let redis: Redis;
  const prefix = uniquePrefix('rrestart');

  beforeAll(async () => {
    [db, server] = await Promise.all([freshDatabase('rrestart'), startStandalone({ appendOnly: true })]);
    redis = new Redis({ host: server.server.host, port: server.server.port });
    redis.on('error', () => undefined);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
    await db.drop();
  });

  it('reconnects and delivers every record exactly once', { timeout: 240_000 }, async () => {
    const records = distinctRecords('rrestart', BEFORE_RESTART + AFTER_RESTART);
    const keys = msgpackKeys(prefix);
    await pushRoundRobin(redis, keys, records.slice(0, BEFORE_RESTART));
    const config = writeConfig(sqlPumpConfig({
      prefix, pgUrl: db.url, port: await freePort(),
      extra: { purge_chunk: 200, analytics_storage_config: { host: server.server.host, port: server.server.port, key_prefix: prefix } },
      sluice: { lease_seconds: 2 },
    }));
    const sluice = startSluice(['--conf', config]);
    expect(await whileRunning(sluice, async () => {
      await waitFor(async () => (await rowCount(db)) >= 2_000, 60_000, 'rows to flow');
      const rowsAtRestart = await rowCount(db);
      const restartStarted = Date.now();
      await server.restart();
      const downMs = Date.now() - restartStarted;
      await pushRoundRobin(redis, keys, records.slice(BEFORE_RESTART));
      console.log(`Redis SIGKILLed and restarted (${downMs} ms down) with ${rowsAtRestart} of ${records.length} rows written`);
      expect(rowsAtRestart).toBeLessThan(BEFORE_RESTART);
      await waitFor(async () => (await rowCount(db)) >= records.length && (await leftoverKeys(redis, prefix)).length === 0, 150_000, 'every record delivered');
      expect(sluice.proc.exitCode).toBeNull();
    })).toBe(0);
    const paths = await db.pool.query('SELECT path, count(*)::int AS n FROM tyk_analytics GROUP BY path');
    const counts = new Map(paths.rows.map((r) => [r.path as string, r.n as number]));
    const duplicated = [...counts].filter(([, n]) => n !== 1);
    const missing = records.length - counts.size;
    console.log(`after the restart: ${counts.size} distinct records, ${duplicated.length} duplicated, ${missing} missing`);
    expect(duplicated).toEqual([]);
    expect(counts.size).toBe(records.length);
    for (let i = 0; i < records.length; i += 997) expect(counts.get(`/rrestart/${i}`)).toBe(1);
  });
});
