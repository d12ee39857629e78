import { describe, expect, it } from 'vitest';
import type { PumpConfiguration, UptimePumpConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import type { UptimeRecord } from '../../src/record/uptime-record.js';
import { createSqlUptimeSink } from '../../sinks/uptime/postgres/index.js';
import { SinkError, type Sink, type SinkBatch } from '../../sinks/sink.js';
import { uptimeMsgpackFixtures } from '../harness/fixtures.js';
import { sinkDatabase } from '../harness/sink-database.js';

/* The SQL uptime sink against a real PostgreSQL: the uptime cases of reference §9.6, W18 and redelivery. */

const HOUR = 1546300800; // 2019-01-01T00:00:00Z
const DAY = 86400;
const BASE: UptimeRecord = {
  ...uptimeMsgpackFixtures()[0]!.record,
  org_id: '1', url: 'url1', request_time: 10, response_code: 200, timestamp: { sec: HOUR + 120, nsec: 0 },
};
const report = (overrides: Partial<UptimeRecord>): UptimeRecord => ({ ...BASE, ...overrides });

const database = sinkDatabase('uptime');
const tables = () => database.tables();
const logger = createLogger({ level: 'silent' });
let batchSeq = 0;

function uptimeConfig(overrides: Record<string, unknown>): UptimePumpConfig {
  return { uptime_type: 'sql', type: 'postgres', connection_string: database.db.url, ...overrides };
}

async function openSink(overrides: Record<string, unknown> = {}): Promise<Sink<UptimeRecord>> {
  const sink = createSqlUptimeSink(uptimeConfig(overrides), { logger, config: {} as PumpConfiguration });
  database.opened(sink);
  await sink.open(new AbortController().signal);
  return sink;
}

function batch(reports: UptimeRecord[], id = `batch-${++batchSeq}`): SinkBatch<UptimeRecord> {
  return { id, records: reports.map((record, i) => ({ id: `${id}-${i}`, record, bytes: 100 })) };
}
const write = (sink: Sink<UptimeRecord>, b: SinkBatch<UptimeRecord>) => sink.write(b, new AbortController().signal);

type Row = Record<string, any>;
async function rows(table = 'tyk_uptime_analytics'): Promise<Row[]> {
  return (await database.db.pool.query(`SELECT * FROM ${table} ORDER BY "timestamp", dimension DESC, dimension_value`)).rows;
}

describe('SQL uptime sink', () => {
  it('open creates tyk_uptime_analytics with its dimension index', async () => {
    const sink = await openSink();
    await sink.close();
    expect(await tables()).toEqual(['tyk_uptime_analytics']);
    const def = await database.db.pool.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'tyk_uptime_analytics' AND indexname LIKE '%idx%'`);
    expect(def.rows[0].indexdef).toContain('("timestamp", org_id, dimension, dimension_value)');
  });

  it('an invalid type fails open with a permanent error naming uptime_pump_config.type', async () => {
    const sink = createSqlUptimeSink(uptimeConfig({ type: 'sqlite' }), { logger, config: {} as PumpConfiguration });
    const failure = await sink.open(new AbortController().signal).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SinkError);
    expect((failure as SinkError).transient).toBe(false);
    expect((failure as SinkError).message).toContain('uptime_pump_config.type');
  });

  it('3 reports per call in one hour: 2 rows, total hits 3, 6, 9; an hour later 4 rows with the new total at 3 (TestSQLWriteUptimeData)', async () => {
    const sink = await openSink();
    for (const expected of [3, 6, 9]) {
      await write(sink, batch([report({}), report({}), report({})]));
      const all = await rows();
      expect(all.map((r) => [r.dimension, r.dimension_value])).toEqual([['url', 'url1'], ['', 'total']]);
      expect(Number(all[1]!.counter_hits)).toBe(expected);
    }
    await write(sink, batch([1, 2, 3].map(() => report({ timestamp: { sec: HOUR + 3600 + 5, nsec: 0 } }))));
    const all = await rows();
    expect(all).toHaveLength(4);
    expect(Number(all[3]!.counter_hits)).toBe(3);
    expect(Number(all[3]!.timestamp)).toBe(HOUR + 3600);
  });

  it('sharded: 3, 2 and 1 reports on three days give 2 rows in each daily table (TestSQLWriteUptimeDataSharded)', async () => {
    const sink = await openSink({ table_sharding: true });
    const day = (n: number) => ({ sec: 1709251200 + (n - 1) * DAY + 7200, nsec: 0 }); // 2024-03-0n 02:00Z
    await write(sink, batch([1, 1, 1, 2, 2, 3].map((n) => report({ timestamp: day(n) }))));
    expect(await tables()).toEqual(['tyk_uptime_analytics_20240301', 'tyk_uptime_analytics_20240302', 'tyk_uptime_analytics_20240303']);
    for (const [table, hits] of [['tyk_uptime_analytics_20240301', 3], ['tyk_uptime_analytics_20240302', 2], ['tyk_uptime_analytics_20240303', 1]] as const) {
      const all = await rows(table);
      expect(all).toHaveLength(2);
      expect(Number(all[1]!.counter_hits)).toBe(hits);
    }
  });

  it('five reports: 3 rows; url1 has code_200=3, code_500=2, hits 5, success 3, error 2, request time 14 of 70 (TestSQLWriteUptimeDataAggregations)', async () => {
    const sink = await openSink();
    await write(sink, batch([[10, 200], [10, 500], [10, 200], [20, 200], [20, 500]].map(([t, code]) => report({ request_time: t!, response_code: code! }))));
    const all = await rows();
    expect(all.map((r) => [r.dimension, r.dimension_value])).toEqual([['url', 'url1'], ['errors', '500'], ['', 'total']]);
    expect(all[0]).toMatchObject({ code_200: '3', code_500: '2', counter_hits: '5', counter_success: '3', counter_error: '2' });
    expect(Number(all[0]!.counter_request_time)).toBe(14);
    expect(Number(all[0]!.counter_total_request_time)).toBe(70);
  });

  it('Sluice difference (W18): counter_request_time is recomputed on conflict', async () => {
    const sink = await openSink();
    await write(sink, batch([report({ request_time: 10 })]));
    await write(sink, batch([report({ request_time: 40 })]));
    const url = (await rows())[0]!;
    expect(Number(url.counter_total_request_time)).toBe(50);
    expect(Number(url.counter_request_time)).toBe(25);
  });

  it('a report whose request time no counter adds exactly is refused alone, the rest written', async () => {
    const sink = await openSink();
    const b = batch([report({ request_time: 10 }), report({ request_time: 2 ** 64 }), report({ request_time: 30 })]);
    const outcome = await write(sink, b);
    expect(outcome.written).toBe(2);
    expect(outcome.rejected).toEqual([{ recordId: b.records[1]!.id, reason: expect.stringMatching(/RequestTime: 18446744073709552000 is not an integer/) }]);
    expect(Number((await rows())[0]!.counter_total_request_time)).toBe(40);
  });

  it('a redelivered batch id leaves the table unchanged', async () => {
    const sink = await openSink();
    const b = batch([report({}), report({ response_code: 503 })]);
    expect(await write(sink, b)).toMatchObject({ written: 2, alreadyApplied: false });
    const before = await rows();
    expect(await write(sink, b)).toMatchObject({ written: 0, alreadyApplied: true });
    expect(await rows()).toEqual(before);
  });
});
