import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PumpConfig, PumpConfiguration } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { createSqlAggregateSink } from '../../sinks/postgres-aggregate/index.js';
import type { SinkBatch } from '../../sinks/sink.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { random } from '../../src/demo/traffic.js';

/*
 * Property: whatever the batch boundaries, and however the batches are shared out between two sink
 * instances (two pools) writing at the same time, the rows in PostgreSQL equal the aggregates recomputed
 * here, independently and naively, from the raw records. The recomputation uses nothing of the model.
 */

const SEEDS = [1, 2, 3, 4, 5, 6];
const RECORDS_PER_SEED = 400;
const START = 1717200000; // 2024-06-01T00:00:00Z


const BASE: AnalyticsRecord = analyticsMsgpackFixtures().find((f) => f.record.response_code === 200)!.record;

interface Scenario {
  records: AnalyticsRecord[];
  perMinute: boolean;
  trackAllPaths: boolean;
  sharded: boolean;
}

function scenario(seed: number): Scenario {
  const rand = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const int = (n: number) => Math.floor(rand() * n);
  const records = Array.from({ length: RECORDS_PER_SEED }, (): AnalyticsRecord => {
    const code = pick([-1, 200, 200, 201, 204, 301, 304, 400, 401, 404, 429, 451, 500, 503, 599]);
    return {
      ...BASE,
      org_id: pick(['orgA', 'orgB', 'orgC', '']),
      api_id: pick(['api1', 'api2', 'api.3', '']),
      api_name: pick(['Name', 'Other name', '']),
      api_version: pick(['', 'v1', 'v2']),
      api_key: pick(['', 'key1', 'key2', 'key3']),
      alias: pick(['', 'alice', 'bob']),
      oauth_id: pick(['', '', 'client1', 'client2']),
      path: pick(['/get', '/a.b/c', '/x', '/']),
      track_path: rand() < 0.5,
      tags: rand() < 0.2 ? null : Array.from({ length: int(4) }, () => pick(['t1', 't.1', ' t2 ', 'key-abc', 'ign-x', '...', 'org-a'])),
      geo: { ...BASE.geo, country: { iso_code: pick(['', 'GB', 'US']) } },
      response_code: code,
      request_time: int(500),
      latency: { total: int(300), upstream: int(200), gateway: 0 },
      network: { open_connections: int(5), closed_connections: int(5), bytes_in: int(10000), bytes_out: int(100000) },
      timestamp: { sec: START + int(3) * 86400 + int(3) * 3600 + int(3600), nsec: int(1e9) },
      expireAt: { sec: START + 30 * 86400, nsec: 0 },
      graphql_stats: { ...BASE.graphql_stats, IsGraphQL: rand() < 0.05 },
      mcp_stats: { ...BASE.mcp_stats, is_mcp: rand() < 0.05 },
    };
  });
  return { records, perMinute: rand() < 0.3, trackAllPaths: rand() < 0.3, sharded: rand() < 0.5 };
}

/* ---------- the independent recomputation ---------- */

interface Expected {
  table: string;
  id: string;
  timestamp: number;
  org_id: string;
  dimension: string;
  dimension_value: string;
  identifier: string;
  hits: number;
  success: number;
  error: number;
  totalRequestTime: number;
  totalLatency: number;
  totalUpstream: number;
  maxLatency: number;
  maxUpstream: number;
  nonErrorMin: [number, number] | undefined;
  anyMin: [number, number] | undefined;
  open: number;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  lastMicros: bigint;
  human: { micros: bigint; label: string };
  codes: Map<string, number>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64').replace(/=+$/, '');
const hex = (s: string) => Buffer.from(s).toString('hex');
const micros = (t: { sec: number; nsec: number }) => BigInt(t.sec) * 1_000_000n + BigInt(Math.floor(t.nsec / 1000));

function labels(r: AnalyticsRecord, trackAll: boolean): Array<[string, string, string, string]> {
  const out: Array<[string, string, string, string]> = [];
  const tracked = trackAll || r.track_path;
  if (r.response_code === -1) return r.api_id ? [['apiid', r.api_id, r.api_id, r.api_name]] : [];
  if (r.api_id) out.push(['apiid', r.api_id, r.api_id, r.api_name]);
  if (r.response_code >= 400) out.push(['errors', String(r.response_code), String(r.response_code), '']);
  if (r.api_version) out.push(['versions', b64(`${r.api_id}:${r.api_version}`), r.api_version, r.api_version]);
  if (r.api_key) out.push(['apikeys', r.api_key, r.api_key, r.alias]);
  if (r.oauth_id) out.push(['oauthids', r.oauth_id, r.oauth_id, '']);
  if (r.geo.country.iso_code) out.push(['geo', r.geo.country.iso_code, r.geo.country.iso_code, r.geo.country.iso_code]);
  const tags = new Set((r.tags ?? []).filter((t) => !t.startsWith('key-') && !t.startsWith('ign-')).map((t) => t.trim().split('.').join('')).filter((t) => t));
  for (const t of tags) out.push(['tags', t, t, t]);
  if (tracked) {
    out.push(['endpoints', r.path.split('.').join('\\u2e'), r.path, r.path]);
    const h = b64(`${r.api_id}:${r.path}`);
    if (r.api_key) out.push(['keyendpoints', `${r.api_key}.${h}`, h, h]);
    if (r.oauth_id) out.push(['oauthendpoints', `${r.oauth_id}.${h}`, h, h]);
    const k = hex(`${r.api_id}:${r.api_version}:${r.path}`);
    out.push(['apiendpoints', k, k, r.path]);
  }
  return out;
}

function recompute(s: Scenario): Map<string, Expected> {
  const expected = new Map<string, Expected>();
  const size = s.perMinute ? 60 : 3600;
  for (const r of s.records) {
    if (!r.org_id || r.graphql_stats.IsGraphQL || r.mcp_stats.is_mcp) continue;
    const bucket = r.timestamp.sec - (r.timestamp.sec % size);
    const day = new Date(bucket * 1000).toISOString().slice(0, 10).split('-').join('');
    const table = s.sharded ? `tyk_aggregated_${day}` : 'tyk_aggregated';
    const all: Array<[string, string, string, string]> = [...labels(r, s.trackAllPaths), ['', 'total', '', '']];
    for (const [dimension, value, identifier, human] of all) {
      const id = hex(`${bucket}${r.org_id}${dimension}${value}`);
      const key = `${table}/${id}`;
      let e = expected.get(key);
      if (!e) {
        e = { table, id, timestamp: bucket, org_id: r.org_id, dimension, dimension_value: value, identifier, hits: 0, success: 0, error: 0,
          totalRequestTime: 0, totalLatency: 0, totalUpstream: 0, maxLatency: 0, maxUpstream: 0, nonErrorMin: undefined, anyMin: undefined,
          open: 0, closed: 0, bytesIn: 0, bytesOut: 0, lastMicros: -1n, human: { micros: -1n, label: '' }, codes: new Map() };
        expected.set(key, e);
      }
      const m = micros(r.timestamp);
      if (m > e.lastMicros) e.lastMicros = m;
      if (m > e.human.micros || (m === e.human.micros && human > e.human.label)) e.human = { micros: m, label: human };
      if (r.response_code === -1) {
        e.bytesIn += r.network.bytes_in;
        e.bytesOut += r.network.bytes_out;
        if (dimension === '') {
          e.open += r.network.open_connections;
          e.closed += r.network.closed_connections;
        }
        continue;
      }
      e.hits += 1;
      if (r.response_code >= 200 && r.response_code < 300) e.success += 1;
      if (r.response_code >= 400) {
        e.error += 1;
        e.codes.set(String(r.response_code), (e.codes.get(String(r.response_code)) ?? 0) + 1);
      }
      e.totalRequestTime += r.request_time;
      e.totalLatency += r.latency.total;
      e.totalUpstream += r.latency.upstream;
      e.maxLatency = Math.max(e.maxLatency, r.latency.total);
      e.maxUpstream = Math.max(e.maxUpstream, r.latency.upstream);
      const lat: [number, number] = [r.latency.total, r.latency.upstream];
      const lower = (min: [number, number] | undefined): [number, number] => (min ? [Math.min(min[0], lat[0]), Math.min(min[1], lat[1])] : lat);
      e.anyMin = lower(e.anyMin);
      if (r.response_code < 400) e.nonErrorMin = lower(e.nonErrorMin);
    }
  }
  return expected;
}

const OWN_CODE_COLUMNS = new Set(['400', '401', '403', '404', '429', '500', '501', '502', '503', '504']);

function expectedRow(e: Expected): Record<string, unknown> {
  const codes: Record<string, number> = { code_4x: 0, code_5x: 0 };
  for (const c of OWN_CODE_COLUMNS) codes[`code_${c}`] = 0;
  for (const [code, n] of e.codes) {
    const column = OWN_CODE_COLUMNS.has(code) ? `code_${code}` : `code_${code[0]}x`;
    if (column in codes) codes[column] += n;
  }
  const [minLatency, minUpstream] = e.nonErrorMin ?? e.anyMin ?? [0, 0];
  return {
    id: e.id, timestamp: e.timestamp, org_id: e.org_id, dimension: e.dimension, dimension_value: e.dimension_value,
    counter_identifier: e.identifier, counter_human_identifier: e.human.label, last_us: e.lastMicros.toString(),
    counter_hits: e.hits, counter_success: e.success, counter_error: e.error,
    counter_total_request_time: e.totalRequestTime, counter_total_latency: e.totalLatency, counter_total_upstream_latency: e.totalUpstream,
    counter_max_latency: e.maxLatency, counter_max_upstream_latency: e.maxUpstream,
    counter_min_latency: minLatency, counter_min_upstream_latency: minUpstream,
    counter_open_connections: e.open, counter_closed_connections: e.closed, counter_bytes_in: e.bytesIn, counter_bytes_out: e.bytesOut,
    ...codes,
    avg_request_time: e.hits ? e.totalRequestTime / e.hits : 0,
    avg_latency: e.hits ? e.totalLatency / e.hits : 0,
    avg_upstream_latency: e.hits ? e.totalUpstream / e.hits : 0,
  };
}

/* ---------- writing and reading back ---------- */

let db: TestDatabase;
const logger = createLogger({ level: 'silent' });

function pump(s: Scenario): PumpConfig {
  return {
    name: 'SQLAGG', type: 'sql_aggregate', timeout: 0, omit_detailed_recording: false, max_record_size: 0, ignore_fields: [],
    filters: { org_ids: [], api_ids: [], response_codes: [], skip_org_ids: [], skip_api_ids: [], skip_response_codes: [] },
    meta: {
      type: 'postgres', connection_string: db.url, table_sharding: s.sharded, batch_size: 50,
      store_analytics_per_minute: s.perMinute, track_all_paths: s.trackAllPaths, ignore_tag_prefix_list: ['ign-'],
    },
  };
}

/** Random cut points; each batch goes to one of the two sinks; one batch is delivered twice. */
function shareOut(seed: number, records: AnalyticsRecord[]): [SinkBatch<AnalyticsRecord>[], SinkBatch<AnalyticsRecord>[]] {
  const rand = random(seed * 7919);
  const lanes: [SinkBatch<AnalyticsRecord>[], SinkBatch<AnalyticsRecord>[]] = [[], []];
  let start = 0;
  while (start < records.length) {
    const end = Math.min(records.length, start + 1 + Math.floor(rand() * 80));
    const id = `seed${seed}-${start}`;
    lanes[rand() < 0.5 ? 0 : 1].push({ id, records: records.slice(start, end).map((record, i) => ({ id: `${id}-${i}`, record, bytes: 1 })) });
    start = end;
  }
  const again = lanes[0][0] ?? lanes[1][0]!;
  lanes[1].push(again);
  return lanes;
}

const NUMBER_COLUMNS = [
  'timestamp', 'counter_hits', 'counter_success', 'counter_error', 'counter_total_request_time', 'counter_total_latency',
  'counter_total_upstream_latency', 'counter_max_latency', 'counter_max_upstream_latency', 'counter_min_latency',
  'counter_min_upstream_latency', 'counter_open_connections', 'counter_closed_connections', 'counter_bytes_in', 'counter_bytes_out',
  'code_400', 'code_401', 'code_403', 'code_404', 'code_429', 'code_4x', 'code_500', 'code_501', 'code_502', 'code_503', 'code_504', 'code_5x',
];

async function storedRows(): Promise<Map<string, Record<string, unknown>>> {
  const tables = await db.pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tyk_aggregated%'`);
  const stored = new Map<string, Record<string, unknown>>();
  for (const { tablename } of tables.rows) {
    const result = await db.pool.query(`SELECT *, (extract(epoch FROM counter_last_time) * 1000000)::bigint::text AS last_us FROM ${tablename}`);
    for (const row of result.rows) {
      const out: Record<string, unknown> = {
        id: row.id, org_id: row.org_id, dimension: row.dimension, dimension_value: row.dimension_value,
        counter_identifier: row.counter_identifier, counter_human_identifier: row.counter_human_identifier, last_us: row.last_us,
        avg_request_time: Number(row.counter_request_time), avg_latency: Number(row.counter_latency), avg_upstream_latency: Number(row.counter_upstream_latency),
      };
      for (const c of NUMBER_COLUMNS) out[c] = Number(row[c]);
      stored.set(`${tablename}/${row.id}`, out);
    }
  }
  return stored;
}

const AVERAGES = ['avg_request_time', 'avg_latency', 'avg_upstream_latency'];

beforeAll(async () => {
  db = await freshDatabase('aggprop');
});

afterAll(async () => {
  await db.drop();
});

describe('sql_aggregate property', () => {
  it.each(SEEDS)('seed %i: rows written by two concurrent sinks over random batches equal the naive recomputation', async (seed) => {
    await db.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    const s = scenario(seed);
    const sinks = [createSqlAggregateSink(pump(s), { logger, config: {} as PumpConfiguration }), createSqlAggregateSink(pump(s), { logger, config: {} as PumpConfiguration })];
    for (const sink of sinks) await sink.open(new AbortController().signal);
    try {
      const lanes = shareOut(seed, s.records);
      await Promise.all(lanes.map(async (batches, lane) => {
        for (const b of batches) await sinks[lane]!.write(b, new AbortController().signal);
      }));
    } finally {
      await Promise.all(sinks.map((sink) => sink.close()));
    }

    const expected = recompute(s);
    const stored = await storedRows();
    expect([...stored.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, e] of expected) {
      const want = expectedRow(e);
      const got = stored.get(key)!;
      for (const avg of AVERAGES) {
        expect(got[avg] as number, `${key} ${avg}`).toBeCloseTo(want[avg] as number, 9);
        delete got[avg];
        delete want[avg];
      }
      expect(got, key).toEqual(want);
    }
  });
});
