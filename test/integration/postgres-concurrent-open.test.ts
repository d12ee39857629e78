import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { ensureLedger } from '../../sinks/postgres/ledger.js';
import { SqlSink } from '../../sinks/postgres/sql-sink.js';
import { createSqlAggregateSink } from '../../sinks/postgres-aggregate/index.js';
import type { PumpConfig } from '../../src/config/types.js';
import type { Sink } from '../../sinks/sink.js';
import { closablePool, freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';

/*
 * Sinks opening at the same moment on a fresh database, as two pumps of one worker do, or workers started
 * together: each creates the applied-batches ledger (and its own tables, daily shards included) if missing.
 * Concurrent CREATE TABLE IF NOT EXISTS of one table can collide in PostgreSQL's catalog ("type ... already
 * exists"); once, that failure was taken for a permanent refusal and a whole batch was dead-lettered.
 */

const logger = createLogger({ level: 'silent' });
const ROUNDS = 5;
const AT_ONCE = 8;

let db: TestDatabase | undefined;
const sinks: Array<Sink<unknown>> = [];

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
  await db?.drop();
  db = undefined;
});

const aggregatePump = (url: string, i: number): PumpConfig => ({
  name: `AGG_${i}`, type: 'sql_aggregate', meta: { type: 'postgres', connection_string: url, omit_index_creation: true }, timeout: 0,
  omit_detailed_recording: false, max_record_size: 0, ignore_fields: [],
  filters: { api_ids: [], org_ids: [], response_codes: [], skip_api_ids: [], skip_org_ids: [], skip_response_codes: [] },
});

describe('sinks opening at once on a fresh database', () => {
  it(`create the ledger without colliding (${ROUNDS} fresh databases, ${AT_ONCE} pools each)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const fresh = await freshDatabase('ledger_race');
      db = fresh;
      const pools = Array.from({ length: AT_ONCE }, () => closablePool({ connectionString: fresh.url, max: 1 }));
      try {
        const results = await Promise.allSettled(pools.map(({ pool }) => ensureLedger(pool)));
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      } finally {
        await Promise.all(pools.map(({ end }) => end()));
      }
      const { rows } = await fresh.pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'sluice_applied_batches'`);
      expect(rows[0].n).toBe(1);
      await fresh.drop();
      db = undefined;
    }
  });

  it(`sql sinks create tyk_analytics and a daily shard with its indexes without colliding (${ROUNDS} fresh databases, ${AT_ONCE} sinks each)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      db = await freshDatabase('sql_table_race');
      const url = db.url;
      const opening = Array.from({ length: AT_ONCE }, (_, i) => new SqlSink({
        name: `SQL_${i}`, connectionString: url, tableName: 'tyk_analytics', tableSharding: i % 2 === 1, omitIndexCreation: i % 2 === 0, logger,
      }));
      sinks.push(...(opening as Array<Sink<unknown>>));
      const opened = await Promise.allSettled(opening.map((sink) => sink.open()));
      expect(opened.filter((r) => r.status === 'rejected')).toEqual([]);
      // The sharded sinks create the same daily shard, indexes in the foreground, on their first writes.
      const record = { ...analyticsMsgpackFixtures()[0]!.record };
      const writes = await Promise.allSettled(opening.filter((_, i) => i % 2 === 1).map((sink, i) => sink.write({ id: `b${i}`, records: [{ id: `r${i}`, record, bytes: 1 }] }, new AbortController().signal)));
      expect(writes.filter((r) => r.status === 'rejected')).toEqual([]);
      await Promise.all(sinks.splice(0).map((s) => s.close()));
      await db.drop();
      db = undefined;
    }
  });

  it('open, a sql sink and aggregate sinks side by side', async () => {
    db = await freshDatabase('open_race');
    const url = db.url;
    sinks.push(
      new SqlSink({ name: 'SQL', connectionString: url, tableName: 'tyk_analytics', tableSharding: false, omitIndexCreation: true, logger }),
      ...Array.from({ length: AT_ONCE - 1 }, (_, i) => createSqlAggregateSink(aggregatePump(url, i), { logger, config: {} as never }) as Sink<unknown>),
    );
    const results = await Promise.allSettled(sinks.map((sink) => sink.open(new AbortController().signal)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  });
});
