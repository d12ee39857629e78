import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { REDIS_URL } from '../harness/redis.js';
import { freePort, startSluice, waitFor } from '../harness/sluice.js';

/*
 * `sluice --demo` with the bundled default config, as a new user runs it, pointed by Tyk's environment
 * variables at a database and a Redis database index of this test's own (the default config drains the
 * local Redis into the local PostgreSQL, which other tests share).
 */

const REDIS_DB = 5;
const RECORDS = 2000;

describe('sluice --demo with the default config', () => {
  let db: TestDatabase;
  let redis: Redis;

  beforeAll(async () => {
    db = await freshDatabase('demo');
    redis = new Redis(`${REDIS_URL}/${REDIS_DB}`);
    await redis.flushdb();
  });
  afterAll(async () => {
    await redis.flushdb();
    await redis.quit();
    await db.drop();
  });

  it('seeds gateway traffic, pumps it into raw, aggregate and uptime tables, and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
    const env = {
      TYK_PMP_ANALYTICSSTORAGECONFIG_DATABASE: String(REDIS_DB),
      TYK_PMP_HEALTHCHECKENDPOINTPORT: String(await freePort()),
      TYK_PMP_PUMPS_SQL_META_CONNECTIONSTRING: db.url,
      TYK_PMP_PUMPS_SQLAGGREGATE_META_CONNECTIONSTRING: db.url,
      TYK_PMP_UPTIMEPUMPCONFIG_CONNECTIONSTRING: db.url,
    };
    const sluice = startSluice(['--demo', '--records', String(RECORDS), '--days', '3'], env, mkdtempSync(join(tmpdir(), 'sluice-demo-')));
    const count = async (table: string) => {
      const exists = await db.pool.query('SELECT to_regclass($1) AS t', [table]);
      return exists.rows[0].t === null ? 0 : ((await db.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number);
    };
    try {
      const gatewayListsEmpty = async () => (await redis.keys('*analytics*')).every((k) => k.startsWith('{sluice}') || k === 'sluice-dead-letters');
      await waitFor(async () => (await count('tyk_analytics')) === RECORDS && (await gatewayListsEmpty()), 90_000, 'the demo records in tyk_analytics');
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await sluice.exited).toBe(0);
    expect(sluice.output.join('\n')).toContain(`wrote ${RECORDS} analytics records`);
    const totals = await db.pool.query(`SELECT sum(counter_hits)::int AS hits FROM tyk_aggregated WHERE dimension = ''`);
    const network = await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics WHERE responsecode = -1');
    // Every record with a real response counts one hit on its org's total row; TCP network records add none.
    expect(totals.rows[0].hits).toBe(RECORDS - network.rows[0].n);
    expect(await count('tyk_uptime_analytics')).toBeGreaterThan(0);
  });
});
