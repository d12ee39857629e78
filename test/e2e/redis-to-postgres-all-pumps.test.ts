import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, redisClient, uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, whileRunning, writeConfig } from '../harness/sluice.js';
import { analyticsRows } from '../../sinks/postgres-aggregate/index.js';
import { uptimeRows } from '../../sinks/uptime/postgres/index.js';
import { rowId, type AggregateRow } from '../../src/aggregate/sql-rows.js';
import { mergeRowsByKey } from '../harness/aggregate-rows.js';
import { HOURLY } from '../../src/aggregate/bucket.js';
import { uptimeKey } from '../../src/source/source-keys.js';

/*
 * The golden fixtures through Redis into Tyk's three PostgreSQL pumps at once — `sql`, `sql_aggregate` and
 * the SQL uptime pump — by a sluice process. The aggregate tables must hold exactly the rows the model
 * computes from the same records in one go (the model itself is checked against an independent
 * recomputation in test/integration/aggregate-property.test.ts): batching, redelivery and the upserts
 * must not change a number.
 */

const analytics = analyticsMsgpackFixtures();
const uptime = uptimeMsgpackFixtures();

function summary(row: AggregateRow) {
  const c = row.counter;
  return { id: rowId(row.key), hits: c.hits, success: c.success, errors: c.errorTotal, totalRequestTime: c.totalRequestTime, bytesIn: c.bytesIn, bytesOut: c.bytesOut };
}

function tableSummary(r: Record<string, string>) {
  return {
    id: r.id, hits: Number(r.counter_hits), success: Number(r.counter_success), errors: Number(r.counter_error),
    totalRequestTime: Number(r.counter_total_request_time), bytesIn: Number(r.counter_bytes_in), bytesOut: Number(r.counter_bytes_out),
  };
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The hourly tyk_aggregated rows the model computes from every fixture record at once. */
const expectedAggregates = mergeRowsByKey(analyticsRows(analytics.map((f) => f.record), {
  trackAllPaths: false, ignoreTagPrefixes: [], ignoredDimensions: new Set(), bucketMinutes: HOURLY,
}).rows).map(summary).sort(byId);

async function aggregatedTable(db: TestDatabase) {
  return (await db.pool.query('SELECT * FROM tyk_aggregated')).rows.map(tableSummary).sort(byId);
}

describe('fixtures from Redis into sql + sql_aggregate + uptime SQL at once', () => {
  let db: TestDatabase;
  let redis: Redis;
  const prefix = uniquePrefix('allpg');

  beforeAll(async () => {
    db = await freshDatabase('allpg');
    redis = redisClient();
  });
  afterAll(async () => {
    await redis.del(uptimeKey().name);
    await redis.quit();
    await db.drop();
  });

  it('fills all three tables with the right numbers', { timeout: 120_000 }, async () => {
    await pushRoundRobin(redis, msgpackKeys(prefix), analytics.map((f) => f.bytes));
    // The uptime key has a fixed name in Tyk, so this test owns it while it runs.
    await redis.del(uptimeKey().name);
    await pushRoundRobin(redis, [uptimeKey().name], uptime.map((f) => f.bytes));
    const port = await freePort();
    const config = sqlPumpConfig({
      prefix, pgUrl: db.url, port,
      extra: {
        dont_purge_uptime_data: false,
        uptime_pump_config: { uptime_type: 'sql', type: 'postgres', connection_string: db.url },
        pumps: {
          sql: { type: 'sql', meta: { type: 'postgres', connection_string: db.url } },
          sql_aggregate: { type: 'sql_aggregate', meta: { type: 'postgres', connection_string: db.url, batch_size: 50 } },
        },
      },
    });
    const sluice = startSluice(['--conf', writeConfig(config)]);
    try {
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0 && (await redis.llen(uptimeKey().name)) === 0, 60_000, 'lists drained');
      await waitFor(async () => (await redis.keys('{host-checker:tyk-uptime-analytics}*')).length === 0, 20_000, 'uptime in-flight acked');
      // Every batch written and acknowledged: no aggregate rows are held any more.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^sluice_sink_queued_heap_bytes\{sink="SQL_AGGREGATE"\} 0$/m);
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await sluice.exited).toBe(0);

    const raw = await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics');
    expect(raw.rows[0].n).toBe(analytics.filter((f) => !f.record.mcp_stats.is_mcp).length);

    const aggregates = await aggregatedTable(db);
    expect(aggregates.length).toBeGreaterThan(100);
    expect(aggregates).toEqual(expectedAggregates);

    const expectedUptime = mergeRowsByKey(uptimeRows(uptime.map((f) => f.record)).rows).map(summary).sort(byId);
    const uptimeTable = (await db.pool.query('SELECT * FROM tyk_uptime_analytics')).rows.map(tableSummary).sort(byId);
    expect(uptimeTable.length).toBeGreaterThan(10);
    expect(uptimeTable).toEqual(expectedUptime);
  });
});

describe('a backlog into sql_aggregate', () => {
  let db: TestDatabase;
  let redis: Redis;
  const prefix = uniquePrefix('foldpg');

  beforeAll(async () => {
    db = await freshDatabase('foldpg');
    redis = redisClient();
  });
  afterAll(async () => {
    await redis.quit();
    await db.drop();
  });

  it('is written in a few folded upserts', { timeout: 60_000 }, async () => {
    // 300 records in claims of 10 over 11 lists: 33 batches.
    await pushRoundRobin(redis, msgpackKeys(prefix), analytics.map((f) => f.bytes));
    const port = await freePort();
    const config = sqlPumpConfig({
      prefix, pgUrl: db.url, port, sluice: { claim_concurrency: 8 },
      extra: { purge_chunk: 10, pumps: { sql_aggregate: { type: 'sql_aggregate', meta: { type: 'postgres', connection_string: db.url } } } },
    });
    let metrics = '';
    const exit = await whileRunning(startSluice(['--conf', writeConfig(config)]), async () => {
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 30_000, 'lists drained');
      metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    });
    expect(exit).toBe(0);
    // A fold commits its batches' ledger rows in one transaction: one xmin per write.
    const ledger = await db.pool.query<{ batches: number; writes: number }>(
      `SELECT count(*)::int AS batches, count(DISTINCT xmin::text)::int AS writes FROM sluice_applied_batches WHERE sink = 'SQL_AGGREGATE'`,
    );
    expect(ledger.rows[0]!.batches).toBe(33);
    // At most 16 batches wait (twice the claim slots): 3 writes at least. Folding only the batches that
    // queued up behind a write, without waiting for those still being prepared, took 17 to 33 writes here.
    expect(ledger.rows[0]!.writes).toBeLessThanOrEqual(6);
    // What an operator sees of it: the writes, and the batches they held.
    expect(metrics).toMatch(new RegExp(`^sluice_sink_batches_per_write_count\\{sink="SQL_AGGREGATE"\\} ${ledger.rows[0]!.writes}$`, 'm'));
    expect(metrics).toMatch(/^sluice_sink_batches_per_write_sum\{sink="SQL_AGGREGATE"\} 33$/m);
    expect(await aggregatedTable(db)).toEqual(expectedAggregates);
  });
});
