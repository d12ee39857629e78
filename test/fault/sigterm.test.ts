import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, redisClient, uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';

describe('SIGTERM stops cleanly and strands nothing', () => {
  let db: TestDatabase;
  let redis: Redis;
  const prefix = uniquePrefix('term');

  beforeAll(async () => {
    db = await freshDatabase('term');
    redis = redisClient();
  });
  afterAll(async () => {
    await redis.quit();
    await db.drop();
  });

  it('exits 0 within the shutdown timeout mid-flow, and a restart delivers the rest exactly once', async () => {
    const total = 30_000;
    await pushRoundRobin(redis, msgpackKeys(prefix), distinctRecords('term', total));
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: db.url, port: await freePort(), extra: { purge_chunk: 100 }, sluice: { shutdown_timeout: 5 } }));
    const first = startSluice(['--conf', config]);
    await waitFor(async () => {
      const t = await db.pool.query(`SELECT to_regclass('tyk_analytics') AS t`);
      return t.rows[0].t !== null && (await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n > 0;
    }, 20_000, 'the flow to start');
    const sentAt = Date.now();
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const stopMs = Date.now() - sentAt;
    expect(stopMs).toBeLessThan(7_000);
    const afterStop = (await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n as number;
    console.log(`SIGTERM to exit: ${stopMs} ms; ${afterStop} of ${total} rows written before the stop`);
    expect(afterStop).toBeLessThan(total);

    const second = startSluice(['--conf', config]);
    try {
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 60_000, 'everything delivered');
    } finally {
      second.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
    const rows = await db.pool.query('SELECT count(*)::int AS n, count(DISTINCT path)::int AS d FROM tyk_analytics');
    expect(rows.rows[0]).toEqual({ n: total, d: total });
  });
});
