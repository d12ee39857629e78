import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, redisClient, uniquePrefix } from '../harness/redis.js';
import { exitStatus, freePort, recentLog, sqlPumpConfig, startSluice, untilReady, waitFor, writeConfig } from '../harness/sluice.js';
import { analyticsTraffic } from '../../src/demo/traffic.js';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsRows } from '../../sinks/postgres-aggregate/index.js';
import { rowId } from '../../src/aggregate/sql-rows.js';
import { mergeRowsByKey } from '../harness/aggregate-rows.js';
import { HOURLY } from '../../src/aggregate/bucket.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';

/*
 * The kill loop of the delivery issue: 100,000 realistic records flowing into `sql` and `sql_aggregate`
 * while sluice is SIGKILLed 20 times at random moments and restarted. Afterwards the raw rows are exactly
 * the input multiset and the aggregate rows equal those computed from the input in one go.
 */

const RECORDS = 100_000;
const KILLS = 20;

describe('kill loop into sql + sql_aggregate', () => {
  let db: TestDatabase;
  let redis: Redis;
  const prefix = uniquePrefix('killagg');

  beforeAll(async () => {
    db = await freshDatabase('killagg');
    redis = redisClient();
  });
  afterAll(async () => {
    await redis.quit();
    await db.drop();
  });

  const rowCount = async () => {
    const t = await db.pool.query(`SELECT to_regclass('tyk_analytics') AS t`);
    return t.rows[0].t === null ? 0 : ((await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n as number);
  };

  it(`${RECORDS} records exactly once after ${KILLS} SIGKILLs, aggregates equal to the input's`, { timeout: 480_000 }, async () => {
    const traffic = analyticsTraffic({ days: 2, now: new Date('2026-11-20T00:00:00Z'), seed: 7 });
    // Paths made unique so the raw multiset can be compared record by record.
    const records: AnalyticsRecord[] = Array.from({ length: RECORDS }, (_, i) => {
      const r = traffic.next().value;
      return { ...r, raw_path: `${r.raw_path}#${i}` };
    });
    await pushRoundRobin(redis, msgpackKeys(prefix), records.map(encodeAnalyticsMsgpack));
    const port = await freePort();
    const config = writeConfig(sqlPumpConfig({
      prefix, pgUrl: db.url, port, sluice: { lease_seconds: 1.5 },
      extra: {
        purge_chunk: 500,
        pumps: {
          raw: { type: 'sql', meta: { type: 'postgres', connection_string: db.url } },
          agg: { type: 'sql_aggregate', meta: { type: 'postgres', connection_string: db.url } },
        },
      },
    }));
    const killedAt: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const before = await rowCount();
      const sluice = startSluice(['--conf', config]);
      // Kill once rows are flowing, at a random point after that, so every kill lands mid-batch.
      await waitFor(async () => (await rowCount()) > before, 30_000, 'rows to flow');
      await new Promise((r) => setTimeout(r, Math.random() * 1500));
      sluice.kill('SIGKILL');
      await sluice.exited;
      killedAt.push(await rowCount());
    }
    console.log(`raw rows at each SIGKILL: ${killedAt.join(', ')} of ${RECORDS}`);
    const final = startSluice(['--conf', config]);
    try {
      // The killed runs may have delivered everything: the restart must be up before it is stopped, or
      // the SIGTERM lands before its handler is installed and ends it by signal.
      await untilReady(final, port);
      await waitFor(async () => (await rowCount()) >= RECORDS && (await leftoverKeys(redis, prefix)).length === 0, 300_000, 'every record delivered');
    } finally {
      final.kill('SIGTERM');
    }
    const code = await final.exited;
    if (code !== 0) console.log(`the final sluice ended with ${exitStatus(final)}:\n${recentLog(final, 40)}`);
    expect(code).toBe(0);

    const raw = await db.pool.query('SELECT rawpath, count(*)::int AS n FROM tyk_analytics GROUP BY rawpath');
    expect(raw.rows.length).toBe(RECORDS);
    expect(raw.rows.every((r) => r.n === 1)).toBe(true);

    const expected = mergeRowsByKey(analyticsRows(records, {
      trackAllPaths: false, ignoreTagPrefixes: [], ignoredDimensions: new Set(), bucketMinutes: HOURLY,
    }).rows).map((row) => `${rowId(row.key)}:${row.counter.hits}:${row.counter.errorTotal}:${row.counter.totalRequestTime}:${row.counter.bytesIn}`).sort();
    const actual = (await db.pool.query('SELECT id, counter_hits, counter_error, counter_total_request_time, counter_bytes_in FROM tyk_aggregated')).rows
      .map((r) => `${r.id}:${Number(r.counter_hits)}:${Number(r.counter_error)}:${Number(r.counter_total_request_time)}:${Number(r.counter_bytes_in)}`).sort();
    expect(actual.length).toBe(expected.length);
    expect(actual).toEqual(expected);
    expect(killedAt.every((n) => n > 0 && n < RECORDS)).toBe(true);
  });
});
