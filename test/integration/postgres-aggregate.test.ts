import { describe, expect, it } from 'vitest';
import type { PumpConfig, PumpConfiguration } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { GoTime } from '../../src/record/go-time.js';
import { analyticsRows, createSqlAggregateSink } from '../../sinks/postgres-aggregate/index.js';
import { upsertRows } from '../../sinks/postgres-aggregate/upsert.js';
import type { FoldedRow } from '../../src/aggregate/sql-rows.js';
import { mergeRowsByKey } from '../harness/aggregate-rows.js';
import { toRowColumns } from '../../src/aggregate/row-columns.js';
import { FoldedTable, foldColumns } from '../../src/aggregate/folded-table.js';
import { dropExpiredShards } from '../../sinks/postgres/retention.js';
import { pruneLedger } from '../../sinks/postgres/ledger.js';
import { FoldConflictError, SinkError, encodeBatch, type EncodingSink, type Sink, type SinkBatch } from '../../sinks/sink.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import { sinkDatabase } from '../harness/sink-database.js';
import { freshDatabase } from '../harness/postgres.js';

/* sql_aggregate against a real PostgreSQL: the cases of reference §9.6, redelivery, size and retention. */

const HOUR = 1546300800; // 2019-01-01T00:00:00Z
const DAY = 86400;
const at = (sec: number): GoTime => ({ sec, nsec: 0 });

const BASE: AnalyticsRecord = {
  ...analyticsMsgpackFixtures().find((f) => f.record.response_code === 200)!.record,
  org_id: '1', api_id: 'api1', api_name: 'api1', api_version: '', api_key: '', oauth_id: '', alias: '',
  path: '/get', tags: [], track_path: false, request_time: 10, timestamp: at(HOUR), expireAt: at(HOUR + DAY),
  latency: { total: 10, upstream: 10, gateway: 0 },
  network: { open_connections: 0, closed_connections: 0, bytes_in: 0, bytes_out: 0 },
};
BASE.geo = { ...BASE.geo, country: { iso_code: '' } };
const record = (overrides: Partial<AnalyticsRecord>): AnalyticsRecord => ({ ...BASE, ...overrides });

/** Merged rows as a fold holds them for one table, what upsertRows writes. */
function foldedTable(rows: readonly FoldedRow[]): FoldedTable {
  const tables = new Map<string, FoldedTable>();
  foldColumns(tables, toRowColumns(new Map([['t', new Map(rows.map((row) => [row.key, row]))]])));
  return tables.get('t')!;
}

const database = sinkDatabase('agg');
const tables = () => database.tables();
const logger = createLogger({ level: 'silent' });
let batchSeq = 0;

function pump(meta: Record<string, unknown>): PumpConfig {
  return {
    name: 'SQLAGG', type: 'sql_aggregate', timeout: 0, omit_detailed_recording: false, max_record_size: 0, ignore_fields: [],
    filters: { org_ids: [], api_ids: [], response_codes: [], skip_org_ids: [], skip_api_ids: [], skip_response_codes: [] },
    meta: { type: 'postgres', connection_string: database.db.url, ...meta },
  };
}

async function openSink(meta: Record<string, unknown> = {}): Promise<Sink<AnalyticsRecord>> {
  const sink = createSqlAggregateSink(pump(meta), { logger, config: {} as PumpConfiguration });
  database.opened(sink);
  await sink.open(new AbortController().signal);
  return sink;
}

function batch(records: AnalyticsRecord[], id = `batch-${++batchSeq}`): SinkBatch<AnalyticsRecord> {
  return { id, records: records.map((record, i) => ({ id: `${id}-${i}`, record, bytes: 100 })) };
}

const write = (sink: Sink<AnalyticsRecord>, b: SinkBatch<AnalyticsRecord>) => sink.write(b, new AbortController().signal);

type Row = Record<string, any>;
async function rows(table = 'tyk_aggregated'): Promise<Row[]> {
  const result = await database.db.pool.query(`SELECT * FROM ${table} ORDER BY dimension DESC, dimension_value`);
  return result.rows;
}
const totalRow = (all: Row[]) => all.find((r) => r.dimension === '' && r.dimension_value === 'total')!;

async function indexes(table: string): Promise<string[]> {
  const result = await database.db.pool.query(`SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname LIKE '%idx%'`, [table]);
  return result.rows.map((r) => r.indexname);
}

describe('open (TestSQLAggregateInit)', () => {
  it('creates tyk_aggregated and the index tyk_aggregated_idx_dimension', async () => {
    const sink = await openSink();
    await sink.close();
    expect(await tables()).toEqual(['tyk_aggregated']);
    const def = await database.db.pool.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'tyk_aggregated_idx_dimension'`);
    expect(def.rows[0].indexdef).toContain('(dimension, "timestamp", org_id, dimension_value)');
  });

  it('an invalid type fails open with a permanent error naming meta.type', async () => {
    const sink = createSqlAggregateSink(pump({ type: 'mysql' }), { logger, config: {} as PumpConfiguration });
    const failure = await sink.open(new AbortController().signal).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SinkError);
    expect((failure as SinkError).transient).toBe(false);
    expect((failure as SinkError).message).toContain('meta.type');
  });

  it('fills pages to 70%, so that merging into a row updates it in place (HOT) instead of indexing it again', async () => {
    const sink = await openSink();
    await sink.close();
    const options = await database.db.pool.query(`SELECT reloptions FROM pg_class WHERE relname = 'tyk_aggregated'`);
    expect(options.rows[0].reloptions).toEqual(['fillfactor=70']);
    // Enough rows to fill many pages, so that only free space left on each page can take a row's new version.
    const { rows: aggregateRows } = analyticsRows(Array.from({ length: 2000 }, (_, i) => record({ api_key: `key${i}` })), {
      trackAllPaths: false, ignoreTagPrefixes: [], ignoredDimensions: new Set(), bucketMinutes: 60,
    });
    const merged = mergeRowsByKey(aggregateRows);
    const client = await database.db.pool.connect();
    try {
      await client.query('BEGIN');
      await upsertRows(client, 'tyk_aggregated', foldedTable(merged), 1000);
      await upsertRows(client, 'tyk_aggregated', foldedTable(merged), 1000);
      // This transaction's own counters: no waiting for the statistics collector.
      const counts = await client.query(`SELECT pg_stat_get_xact_tuples_updated(c.oid) AS updated, pg_stat_get_xact_tuples_hot_updated(c.oid) AS hot FROM pg_class c WHERE relname = 'tyk_aggregated'`);
      const { updated, hot } = counts.rows[0];
      expect(Number(updated)).toBe(merged.length);
      // Half of them on this first merge (full pages, fillfactor 100: none of 2,002); later merges do better,
      // as PostgreSQL prunes the versions earlier merges left on the page.
      expect(Number(hot) / Number(updated)).toBeGreaterThan(0.3);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('omit_index_creation creates the table without the index', async () => {
    const sink = await openSink({ omit_index_creation: true });
    await sink.close();
    expect(await indexes('tyk_aggregated')).toEqual([]);
  });

  it('an unreachable server is a transient failure', async () => {
    const sink = createSqlAggregateSink(pump({ connection_string: 'postgres://root@127.0.0.1:1/test' }), { logger, config: {} as PumpConfiguration });
    const failure = await sink.open(new AbortController().signal).catch((e: unknown) => e);
    await sink.close();
    expect((failure as SinkError).transient).toBe(true);
  });
});

describe('writing (TestSQLAggregateWriteData, _Sharded, _Values)', () => {
  it('the same record, 3 per call in one hour: 2 rows, total hits 3, 6, 9; the next hour adds 2 rows at 3', async () => {
    const sink = await openSink();
    for (const expected of [3, 6, 9]) {
      await write(sink, batch([record({}), record({}), record({})]));
      const all = await rows();
      expect(all).toHaveLength(2);
      expect(Number(totalRow(all).counter_hits)).toBe(expected);
    }
    await write(sink, batch([1, 2, 3].map(() => record({ timestamp: at(HOUR + 3600) }))));
    const all = await rows();
    expect(all).toHaveLength(4);
    expect(all.filter((r) => r.dimension === '').map((r) => [Number(r.timestamp), Number(r.counter_hits)]).sort()).toEqual([[HOUR, 9], [HOUR + 3600, 3]]);
  });

  it('sharded by the UTC day of the bucket: 4, 5 and 3 rows on three days; tyk_aggregated is not created', async () => {
    const sink = await openSink({ table_sharding: true });
    const day = (n: number) => at(1709251200 + (n - 1) * DAY + 3600); // 2024-03-0n 01:00Z
    await write(sink, batch([
      ...[500, 400, 451, 200].map((code) => record({ api_id: '', response_code: code, timestamp: day(1) })),
      record({ api_id: 'api1', response_code: 404, timestamp: day(2) }),
      record({ api_id: 'api1', response_code: 404, timestamp: day(2) }),
      record({ api_id: 'api2', response_code: 401, timestamp: day(2) }),
      record({ api_id: 'api2', response_code: 401, timestamp: day(3) }),
    ]));
    expect(await tables()).toEqual(['tyk_aggregated_20240301', 'tyk_aggregated_20240302', 'tyk_aggregated_20240303']);
    expect((await rows('tyk_aggregated_20240301')).map((r) => [r.dimension, r.dimension_value])).toEqual([
      ['errors', '400'], ['errors', '451'], ['errors', '500'], ['', 'total'],
    ]);
    expect(await rows('tyk_aggregated_20240302')).toHaveLength(5);
    expect(await rows('tyk_aggregated_20240303')).toHaveLength(3);
    expect(await indexes('tyk_aggregated_20240302')).toEqual(['tyk_aggregated_20240302_idx_dimension']);
  });

  const firstWrite = [
    { request_time: 10, response_code: 200, latency: { total: 10, upstream: 10, gateway: 0 } },
    { request_time: 10, response_code: 500, latency: { total: 10, upstream: 10, gateway: 0 } },
    { request_time: 10, response_code: 200, latency: { total: 10, upstream: 10, gateway: 0 } },
    { request_time: 20, response_code: 200, latency: { total: 20, upstream: 20, gateway: 0 } },
    { request_time: 20, response_code: 500, latency: { total: 20, upstream: 30, gateway: 0 } },
  ].map((r) => record(r));

  it('only one writing (batch_size 1): the apiid row has Tyk\'s counts, sums, averages, max and min', async () => {
    const sink = await openSink({ batch_size: 1 });
    await write(sink, batch(firstWrite));
    const all = await rows();
    expect(all.map((r) => [r.dimension, r.dimension_value])).toEqual([['errors', '500'], ['apiid', 'api1'], ['', 'total']]);
    const api = all.find((r) => r.dimension === 'apiid')!;
    expect(api).toMatchObject({ code_500: '2', counter_hits: '5', counter_success: '3', counter_error: '2', counter_max_latency: '20', counter_min_upstream_latency: '10', counter_total_latency: '70', counter_total_upstream_latency: '80' });
    expect(Number(api.counter_request_time)).toBe(14);
    expect(Number(api.counter_total_request_time)).toBe(70);
    expect(Number(api.counter_latency)).toBe(14);
    expect(Number(api.counter_upstream_latency)).toBe(16);
    expect(new Date(api.counter_last_time).getTime()).toBe(HOUR * 1000);
    expect(api.counter_error_map).toBe('{}');
    expect(api.counter_error_list).toBe('[]');
    expect(Number(totalRow(all).counter_hits)).toBe(5);
  });

  it('two writings, on conflict: counts and totals add up, averages are recomputed, max/min and last_time merge', async () => {
    const sink = await openSink({ batch_size: 1 });
    await write(sink, batch(firstWrite));
    const later = HOUR + 600;
    await write(sink, batch([
      record({ request_time: 10, response_code: 200, latency: { total: 10, upstream: 5, gateway: 0 }, timestamp: at(later) }),
      record({ request_time: 10, response_code: 500, latency: { total: 30, upstream: 10, gateway: 0 }, timestamp: at(later) }),
    ]));
    const all = await rows();
    const api = all.find((r) => r.dimension === 'apiid')!;
    expect(api).toMatchObject({ code_500: '3', counter_hits: '7', counter_success: '4', counter_error: '3', counter_total_latency: '110', counter_total_upstream_latency: '95', counter_max_latency: '30', counter_min_upstream_latency: '5' });
    expect(Number(api.counter_request_time)).toBeCloseTo(90 / 7, 12);
    expect(Number(api.counter_total_request_time)).toBe(90);
    expect(Number(api.counter_latency)).toBeCloseTo(110 / 7, 12);
    expect(Number(api.counter_upstream_latency)).toBeCloseTo(95 / 7, 12);
    expect(new Date(api.counter_last_time).getTime()).toBe(later * 1000);
    expect(Number(totalRow(all).counter_hits)).toBe(7);
  });

  it('a tie on last_time keeps the same label in one write and in a merge, whatever the column\'s collation', async () => {
    // The same microsecond, two names for one API. U+FFFD sorts above an emoji in UTF-16 units and below it
    // in UTF-8 bytes; 'alice' sorts above 'Bob' in bytes and below it in a linguistic collation.
    const pairs = [['\uFFFD-renamed', '😀-renamed'], ['alice', 'Bob'], ['a\0b', 'a\x01']];
    const sink = await openSink();
    await write(sink, batch([record({})]));
    const icu = (await database.db.pool.query(`SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'`)).rows.length > 0;
    if (icu) await database.db.pool.query('ALTER TABLE tyk_aggregated ALTER COLUMN counter_human_identifier TYPE text COLLATE "und-x-icu"');
    console.log(`label ties checked under the column collation ${icu ? '"und-x-icu" (linguistic)' : 'of the database (no ICU collation here)'}`);
    const label = async () => (await database.db.pool.query(`SELECT counter_human_identifier AS h FROM tyk_aggregated WHERE dimension = 'apiid'`)).rows[0].h as string;
    for (const [first, second] of pairs) {
      const named = (api_name: string) => record({ api_name, timestamp: { sec: HOUR + 5, nsec: 1000 } });
      const stored: string[] = [];
      for (const writes of [[[first, second]], [[first], [second]], [[second], [first]]]) {
        // Not TRUNCATE: its lock and the sink's background CREATE INDEX CONCURRENTLY can deadlock.
        await database.db.pool.query('DELETE FROM tyk_aggregated');
        for (const names of writes) await write(sink, batch(names.map(named)));
        stored.push(await label());
      }
      expect(new Set(stored).size, `${JSON.stringify([first, second])}: ${JSON.stringify(stored)}`).toBe(1);
    }
  });

  it('averages are the same digits whether a row was written once or merged from several writes', async () => {
    // 40/3 and 60/7 have no exact binary or decimal form: a double computed before the insert and a
    // decimal division on conflict would store different digits for the same totals.
    const times = [10, 10, 20, 15, 5, 10, 10];
    const records = times.map((t, i) => record({ request_time: t, latency: { total: t + i, upstream: t, gateway: 0 }, timestamp: at(HOUR + i) }));
    const averages = async () => (await database.db.pool.query(
      `SELECT dimension, counter_request_time::text AS r, counter_latency::text AS l, counter_upstream_latency::text AS u
         FROM tyk_aggregated ORDER BY dimension, dimension_value`)).rows;
    const asOneWrite = await openSink();
    await write(asOneWrite, batch(records));
    const once = await averages();
    await database.db.pool.query('DELETE FROM tyk_aggregated'); // not TRUNCATE, as above
    const inThree = await openSink();
    for (const part of [records.slice(0, 3), records.slice(3, 4), records.slice(4)]) await write(inThree, batch(part));
    expect(await averages()).toEqual(once);
    expect(Number(once[0].r)).toBeCloseTo(80 / 7, 12);
  });

  it('the same 2-record aggregate (200 + 500) written twice gives total hits 4 (TestSQLAggregateDoAggregatedWriting)', async () => {
    const sink = await openSink();
    const pair = () => [record({ response_code: 200 }), record({ response_code: 500 })];
    await write(sink, batch(pair()));
    await write(sink, batch(pair()));
    expect(Number(totalRow(await rows()).counter_hits)).toBe(4);
  });

  it('per-minute buckets with store_analytics_per_minute', async () => {
    const sink = await openSink({ store_analytics_per_minute: true });
    await write(sink, batch([record({ timestamp: at(HOUR + 59) }), record({ timestamp: at(HOUR + 61) })]));
    const totals = (await rows()).filter((r) => r.dimension === '');
    expect(totals.map((r) => Number(r.timestamp)).sort()).toEqual([HOUR, HOUR + 60]);
  });

  it('ignore_aggregations and track_all_paths are applied', async () => {
    const sink = await openSink({ ignore_aggregations: ['apiid'], track_all_paths: true });
    await write(sink, batch([record({ path: '/x.y' })]));
    expect((await rows()).map((r) => r.dimension)).toEqual(['endpoints', 'apiendpoints', '']);
  });
});

describe('merging on conflict (TestOnConflictUptimeAssignments), with Sluice\'s corrections', () => {
  it('Sluice difference: bytes and connections add up across writes, and an error-only write never lowers a minimum', async () => {
    const sink = await openSink();
    const network = { open_connections: 2, closed_connections: 1, bytes_in: 100, bytes_out: 1000 };
    await write(sink, batch([record({ response_code: -1, network }), record({ latency: { total: 50, upstream: 40, gateway: 0 } })]));
    await write(sink, batch([record({ response_code: -1, network }), record({ response_code: 500, latency: { total: 1, upstream: 1, gateway: 0 } })]));
    const all = await rows();
    expect(totalRow(all)).toMatchObject({ counter_open_connections: '4', counter_closed_connections: '2', counter_bytes_in: '200', counter_bytes_out: '2000', counter_min_latency: '50', counter_min_upstream_latency: '40', counter_max_latency: '50' });
    expect(all.find((r) => r.dimension === 'apiid')).toMatchObject({ counter_bytes_in: '200', counter_bytes_out: '2000', counter_hits: '2' });
  });

  it('Sluice difference: a bucket\'s min is the same whether its error-only hits arrive first or later', async () => {
    const sink = await openSink();
    await write(sink, batch([record({ response_code: 500, latency: { total: 1, upstream: 1, gateway: 0 } })]));
    expect(totalRow(await rows())).toMatchObject({ counter_min_latency: '1' });
    await write(sink, batch([record({ latency: { total: 50, upstream: 40, gateway: 0 } })]));
    expect(totalRow(await rows())).toMatchObject({ counter_min_latency: '50', counter_min_upstream_latency: '40' });
  });
});

describe('exactly once and size', () => {
  it('a redelivered batch id leaves the tables unchanged', async () => {
    const sink = await openSink();
    const b = batch([record({}), record({ response_code: 500 })]);
    expect(await write(sink, b)).toMatchObject({ written: 2, alreadyApplied: false });
    const before = await rows();
    expect(await write(sink, b)).toMatchObject({ written: 0, alreadyApplied: true });
    expect(await rows()).toEqual(before);
  });

  /** The batches' encodings folded into one, as the sink runner folds batches queued behind a write. */
  const foldOf = (sink: EncodingSink<AnalyticsRecord, unknown>, batches: readonly SinkBatch<AnalyticsRecord>[]) =>
    batches.map((b) => encodeBatch(sink, b)).reduce((into, next) => sink.fold!(into, next));

  it('batches folded into one write equal the same batches written one by one', async () => {
    const batches = [0, 1, 2, 3].map((i) => batch([
      record({ api_key: `key-${i % 2}`, response_code: i === 2 ? 500 : 200, request_time: 10 + i }),
      record({ api_key: 'key-shared', timestamp: at(HOUR + 60 * i), tags: ['t1', `t${i}`] }),
    ]));
    // Averages merged by the server carry numeric's scale (10.0000000000000000), merged here they do not (10).
    const byValue = (all: Row[]) => all.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v])));
    const alone = await openSink();
    for (const b of batches) await write(alone, b);
    const expected = byValue(await rows());
    await database.db.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    const folding = (await openSink()) as EncodingSink<AnalyticsRecord, unknown>;
    await write(folding, batches[0]!);
    const outcomes = await folding.writeFolded!(foldOf(folding, batches.slice(1)), new AbortController().signal);
    expect(outcomes.map((o) => [o.written, o.alreadyApplied])).toEqual([[2, false], [2, false], [2, false]]);
    expect(byValue(await rows())).toEqual(expected);
  });

  it('a fold holding a batch applied already writes nothing and says which; a fold of applied batches only is skipped', async () => {
    const sink = (await openSink()) as EncodingSink<AnalyticsRecord, unknown>;
    const [first, second] = [batch([record({})]), batch([record({ api_key: 'other' })])];
    await write(sink, first);
    const before = await rows();
    const conflict = sink.writeFolded!(foldOf(sink, [first, second]), new AbortController().signal);
    await expect(conflict).rejects.toBeInstanceOf(FoldConflictError);
    await expect(conflict).rejects.toMatchObject({ applied: [first.id], folded: 2 });
    expect(await rows()).toEqual(before);
    await write(sink, second);
    const outcomes = await sink.writeFolded!(foldOf(sink, [first, second]), new AbortController().signal);
    expect(outcomes.map((o) => o.alreadyApplied)).toEqual([true, true]);
    expect(Number(totalRow(await rows()).counter_hits)).toBe(2);
  });

  it('paths, tags and keys with tabs, newlines, backslashes, "\\N" and NUL are stored as they are (NUL dropped)', async () => {
    const sink = await openSink({ track_all_paths: true });
    const awkward = ['/a\tb', '/line\nbreak\r', '/back\\slash', '\\N', '/nul\0byte', '/ünïcødé ✓'];
    await write(sink, batch(awkward.map((path, i) => record({ path, api_key: `key\t${i}`, tags: [`tag\n${i}`] }))));
    const endpoints = (await rows()).filter((r) => r.dimension === 'endpoints').map((r) => r.dimension_value as string);
    expect(endpoints.sort()).toEqual(awkward.map((p) => p.replaceAll('\0', '')).sort());
    const keys = (await rows()).filter((r) => r.dimension === 'apikeys').map((r) => r.dimension_value as string);
    expect(keys.sort()).toEqual(awkward.map((_, i) => `key\t${i}`).sort());
  });

  it('bigint columns: values past 32 bits and negative ones arrive exact', async () => {
    const sink = await openSink();
    const big = 2 ** 40 + 5;
    // A network-only record (ResponseCode -1) carries the connection and byte counts into the total row.
    const network = { open_connections: -3, closed_connections: 2 ** 32, bytes_in: big, bytes_out: Number.MAX_SAFE_INTEGER - 1 };
    await write(sink, batch([record({ response_code: -1, network }), record({ response_code: 500 })]));
    const total = totalRow(await rows());
    expect([total.counter_open_connections, total.counter_closed_connections, total.counter_bytes_in, total.counter_bytes_out].map(String))
      .toEqual(['-3', String(2 ** 32), String(big), String(Number.MAX_SAFE_INTEGER - 1)]);
    expect([total.counter_hits, total.counter_error, total.code_500, total.code_200].map(Number)).toEqual([1, 1, 1, 0]);
  });

  it('a batch with 5,000 distinct dimensions is written in one statement without a bind-parameter error', async () => {
    const sink = await openSink({ batch_size: 100_000 });
    const records = Array.from({ length: 5000 }, (_, i) => record({ api_id: `api-${i}` }));
    await write(sink, batch(records));
    const count = await database.db.pool.query(`SELECT count(*)::int AS n FROM tyk_aggregated`);
    expect(count.rows[0].n).toBe(5001);
    expect(Number(totalRow(await database.db.pool.query(`SELECT * FROM tyk_aggregated WHERE dimension = ''`).then((r) => r.rows)).counter_hits)).toBe(5000);
  });

  it('a dimension value too long for the primary key is stored shortened, its counts kept, the batch written', async () => {
    // Random text does not compress: a 1,400-character path makes an apiendpoints key PostgreSQL cannot
    // index (54000, index row size exceeds the btree maximum), which failed the whole batch.
    const random = (n: number) => Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(Math.random() * 90))).join('');
    const long = `/${random(1400)}`;
    const sink = await openSink();
    const records = [
      ...Array.from({ length: 998 }, (_, i) => record({ path: `/short/${i % 7}`, track_path: true })),
      record({ path: long, track_path: true }), record({ path: long, track_path: true }),
    ];
    const outcome = await write(sink, batch(records));
    expect(outcome).toMatchObject({ written: 1000, rejected: [] });
    const stored = (await database.db.pool.query(
      `SELECT dimension, dimension_value, counter_hits::int AS hits, octet_length(id) AS id_bytes FROM tyk_aggregated WHERE length(dimension_value) > 100 ORDER BY dimension`)).rows;
    expect(stored.map((r) => [r.dimension, r.hits])).toEqual([['apiendpoints', 2], ['endpoints', 2]]);
    for (const row of stored) {
      expect(row.dimension_value).toMatch(/…[0-9a-f]{16}$/);
      expect(row.id_bytes).toBeLessThanOrEqual(2 * 1024);
    }
    expect(Number(totalRow(await rows()).counter_hits)).toBe(1000);
    // The same value is shortened the same way in the next batch: it adds to the same rows.
    await write(sink, batch([record({ path: long, track_path: true })]));
    const again = await database.db.pool.query(`SELECT counter_hits::int AS hits FROM tyk_aggregated WHERE length(dimension_value) > 100`);
    expect(again.rows.map((r) => r.hits)).toEqual([3, 3]);
  });

  it('a record with a value no counter adds exactly is refused alone, its field named; the rest is written', async () => {
    // 2^63 would be sent as 9223372036854776000, past bigint (22003); 1e21 as "1e+21" and 1.5 as itself,
    // which bigint cannot parse (22P02): each failed the whole upsert.
    const sink = await openSink();
    const b = batch([
      record({}), record({ latency: { total: 2 ** 63, upstream: 1, gateway: 0 } }),
      record({ response_code: -1, network: { ...BASE.network, bytes_out: 1e21 } }), record({}),
      record({ response_code: -1, network: { ...BASE.network, bytes_in: 1.5 } }),
    ]);
    const outcome = await write(sink, b);
    expect(outcome.written).toBe(2);
    expect(outcome.rejected.map((r) => r.recordId)).toEqual([b.records[1]!.id, b.records[2]!.id, b.records[4]!.id]);
    expect(outcome.rejected[0]!.reason).toMatch(/^SQLAGG: Latency\.Total: 9223372036854776000 is not an integer an aggregate counter adds exactly/);
    expect(outcome.rejected[1]!.reason).toMatch(/Network\.BytesOut: 1e\+21/);
    expect(Number(totalRow(await rows()).counter_hits)).toBe(2);
    // A redelivery is already applied: nothing written, nothing refused twice.
    expect(await write(sink, b)).toMatchObject({ written: 0, alreadyApplied: true, rejected: [] });
  });

  it('graph, MCP and org-less records are skipped and not counted as written', async () => {
    const sink = await openSink();
    const outcome = await write(sink, batch([record({}), record({ org_id: '' }), record({ mcp_stats: { ...BASE.mcp_stats, is_mcp: true } })]));
    expect(outcome.written).toBe(1);
    expect(Number(totalRow(await rows()).counter_hits)).toBe(1);
  });
});

describe('retention (capping)', () => {
  it('prunes ledger rows older than asked, and finds nothing to prune before a sink has created the ledger', async () => {
    const empty = await freshDatabase('no_ledger');
    try {
      expect(await pruneLedger(empty.pool, 1)).toBe(0);
    } finally {
      await empty.drop();
    }
    await openSink();
    const ledger = database.db.pool;
    await ledger.query(`INSERT INTO sluice_applied_batches (sink, batch_id, applied_at) VALUES ('SQLAGG', 'old', now() - interval '3 hours'), ('SQLAGG', 'new', now())`);
    expect(await pruneLedger(ledger, 2)).toBe(1);
    const left = await ledger.query(`SELECT batch_id FROM sluice_applied_batches WHERE batch_id IN ('old', 'new')`);
    expect(left.rows.map((r) => r.batch_id)).toEqual(['new']);
  });

  it('drops only daily shards older than the retention, and returns their names', async () => {
    for (const name of ['tyk_aggregated', 'tyk_aggregated_20240601', 'tyk_aggregated_20240602', 'tyk_aggregated_20240603', 'tyk_aggregated_20240610', 'tyk_aggregated_20249999', 'tyk_aggregated_x_20240101', 'tyk_analytics_20240101']) {
      await database.db.pool.query(`CREATE TABLE ${name} (id text)`);
    }
    const dropped = await dropExpiredShards(database.db.pool, 'tyk_aggregated', 7, new Date('2024-06-10T15:00:00Z'));
    expect(dropped).toEqual(['tyk_aggregated_20240601', 'tyk_aggregated_20240602']);
    expect(await tables()).toEqual(['tyk_aggregated', 'tyk_aggregated_20240603', 'tyk_aggregated_20240610', 'tyk_aggregated_20249999', 'tyk_aggregated_x_20240101', 'tyk_analytics_20240101']);
    expect(await dropExpiredShards(database.db.pool, 'tyk_aggregated', 0, new Date('2024-06-10T15:00:00Z'))).toEqual([]);
  });

  it('migrate_sharded_tables ensures the index on existing shards at open', async () => {
    await database.db.pool.query(`CREATE TABLE tyk_aggregated_20240301 (id text, dimension text, "timestamp" bigint, org_id text, dimension_value text)`);
    const sink = await openSink({ table_sharding: true, migrate_sharded_tables: true });
    await sink.close();
    expect(await indexes('tyk_aggregated_20240301')).toEqual(['tyk_aggregated_20240301_idx_dimension']);
  });
});
