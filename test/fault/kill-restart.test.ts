import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, redisClient, uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, recentLog } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import { proxyPostgres, type TcpProxy } from '../harness/tcp-proxy.js';

/*
 * Crash safety: sluice is SIGKILLed at random moments while 20,000 records flow, and restarted each time.
 * Whatever was claimed and not acknowledged is taken over after the lease and redelivered; the ledger
 * makes the redelivery harmless. Afterwards PostgreSQL holds each record exactly once.
 * Sluice reaches PostgreSQL through a proxy that lets COPY data through at a bounded rate: unbounded, a
 * worker drains the 20,000 records within the first kills' random delays, and the later kills would land
 * on a worker with nothing left to do.
 */

const RECORDS = 20_000;
const KILLS = 6;
/** About 3,000 of these records a second. */
const PG_BYTES_PER_SECOND = 1_500_000;

describe('SIGKILL during the flow loses nothing and writes nothing twice', () => {
  let db: TestDatabase;
  let redis: Redis;
  let proxy: TcpProxy;
  let throttledUrl: string;
  const prefix = uniquePrefix('kill');

  beforeAll(async () => {
    db = await freshDatabase('kill');
    redis = redisClient();
    ({ proxy, url: throttledUrl } = await proxyPostgres(db.url, { bytesPerSecond: PG_BYTES_PER_SECOND }));
  });
  afterAll(async () => {
    await proxy.close();
    await redis.quit();
    await db.drop();
  });

  const rowCount = async () => {
    const r = await db.pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'tyk_analytics'`);
    if (r.rows[0].n === 0) return 0;
    return (await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n as number;
  };

  it(`holds all ${RECORDS} records exactly once after ${KILLS} kills`, { timeout: 150_000 }, async () => {
    await pushRoundRobin(redis, msgpackKeys(prefix), distinctRecords('kill', RECORDS));
    const port = await freePort();
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: throttledUrl, port, extra: { purge_chunk: 200 }, sluice: { lease_seconds: 1.5 } }));
    const killedAt: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const before = await rowCount();
      const sluice = startSluice(['--conf', config]);
      // Kill once rows are flowing, at a random point after that, so kills land mid-batch.
      await waitFor(async () => (await rowCount()) > before, 20_000, 'rows to flow');
      await new Promise((r) => setTimeout(r, Math.random() * 600));
      sluice.kill('SIGKILL');
      await sluice.exited;
      killedAt.push(await rowCount());
    }
    console.log(`rows in PostgreSQL at each SIGKILL: ${killedAt.join(', ')} of ${RECORDS}`);
    const final = startSluice(['--conf', config]);
    try {
      await waitFor(async () => (await rowCount()) >= RECORDS && (await leftoverKeys(redis, prefix)).length === 0, 60_000, 'every record delivered');
      // The last kill may land after the final rows: the restart must still be up before it is stopped.
      await waitFor(() => fetch(`http://127.0.0.1:${port}/live`).then((r) => r.ok, () => false), 20_000, 'the restarted worker to be live');
    } catch (err) {
      console.log(recentLog(final, 15));
      console.log(await leftoverKeys(redis, prefix), await rowCount());
      throw err;
    } finally {
      final.kill('SIGTERM');
    }
    expect(await final.exited).toBe(0);
    const paths = await db.pool.query('SELECT path, count(*)::int AS n FROM tyk_analytics GROUP BY path');
    const counts = new Map(paths.rows.map((r) => [r.path as string, r.n as number]));
    expect(counts.size).toBe(RECORDS);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    for (let i = 0; i < RECORDS; i += 997) expect(counts.get(`/kill/${i}`)).toBe(1);
    // Every kill landed mid-flow: rows had started to arrive, and not all of them.
    expect(killedAt.every((n) => n > 0 && n < RECORDS)).toBe(true);
  });
});
