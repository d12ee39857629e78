import { describe, expect, it } from 'vitest';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import { fileServices } from '../harness/file-services.js';
import type { TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, whileRunning, writeConfig } from '../harness/sluice.js';

/*
 * End to end, as an operator runs it: the golden gateway records RPUSHed over the 11 msgpack keys, sluice
 * started as its own process from a pump.conf, and every record compared column by column with what the
 * Go pump decodes. The `sql` pump skips MCP records, as Tyk's does (they belong to the MCP pumps).
 */

const fixtures = analyticsMsgpackFixtures();
const expectedRecords = fixtures.map((f) => f.json).filter((r) => !(r.mcp_stats as { is_mcp: boolean }).is_mcp);

type Json = Record<string, any>;

function micros(text: string): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text)!;
  const whole = Date.parse(`${m[1]}${m[3]}`.replace(/^(\d{4})/, '$1')) / 1000;
  const fraction = (m[2] ?? '').padEnd(9, '0').slice(0, 6);
  return (BigInt(Math.round(whole)) * 1_000_000n + BigInt(fraction)).toString();
}

/** What Tyk's column layout holds for a record, from the fixture's JSON alone. */
function expectedRow(r: Json): Json {
  return {
    method: r.method, host: r.host, path: r.path, rawpath: r.raw_path, contentlength: r.content_length,
    useragent: r.user_agent, day: r.day, month: r.month, year: r.year, hour: r.hour, responsecode: r.response_code,
    apikey: r.api_key, timestamp_us: micros(r.timestamp), apiversion: r.api_version, api_name: r.api_name,
    apiid: r.api_id, orgid: r.org_id, oauthid: r.oauth_id, requesttime: r.request_time, rawrequest: r.raw_request,
    rawresponse: r.raw_response, ipaddress: r.ip_address, geo_country_iso_code: r.geo.country.iso_code,
    geo_city_geoname_id: r.geo.city.geoname_id, geo_city_names: r.geo.city.names ?? {},
    geo_location_latitude: r.geo.location.latitude, geo_location_longitude: r.geo.location.longitude,
    geo_location_time_zone: r.geo.location.time_zone, network_open_connections: r.network.open_connections,
    network_closed_connections: r.network.closed_connections, network_bytes_in: r.network.bytes_in,
    network_bytes_out: r.network.bytes_out, latency_total: r.latency.total, latency_upstream: r.latency.upstream,
    latency_gateway: r.latency.gateway, tags: r.tags ?? [], alias: r.alias, trackpath: r.track_path,
    expireat_us: micros(r.expireAt), originalpath: r.original_path, listenpath: r.listen_path,
  };
}

const NUMERIC = ['contentlength', 'day', 'month', 'year', 'hour', 'responsecode', 'requesttime', 'geo_city_geoname_id',
  'geo_location_latitude', 'geo_location_longitude', 'network_open_connections', 'network_closed_connections',
  'network_bytes_in', 'network_bytes_out', 'latency_total', 'latency_upstream', 'latency_gateway'];

function normaliseRow(row: Json): Json {
  const out: Json = { ...row, geo_city_names: JSON.parse(row.geo_city_names), tags: JSON.parse(row.tags) };
  for (const c of NUMERIC) out[c] = Number(row[c]);
  delete out.timestamp;
  delete out.expireAt;
  return out;
}

const sortKey = (row: Json) => JSON.stringify(row, Object.keys(row).sort());

async function rowsOf(db: TestDatabase, tables: string[]): Promise<Json[]> {
  const rows: Json[] = [];
  for (const table of tables) {
    const result = await db.pool.query(`SELECT *,
      (extract(epoch from "timestamp") * 1000000)::bigint::text AS timestamp_us,
      (extract(epoch from "expireAt") * 1000000)::bigint::text AS expireat_us,
      '${table}' AS _table FROM "${table}"`);
    rows.push(...result.rows);
  }
  return rows;
}

async function analyticsTables(db: TestDatabase): Promise<string[]> {
  const r = await db.pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tyk_analytics%' ORDER BY 1`);
  return r.rows.map((x) => x.tablename as string);
}

// Batches are decoded and encoded in an encode thread by default; encode_threads 0 does it on the main thread.
describe.each([
  { sharding: false, threads: 1 },
  { sharding: true, threads: 0 },
])('gateway fixtures from Redis into tyk_analytics (table_sharding $sharding, encode_threads $threads)', ({ sharding, threads }) => {
  const services = fileServices('e2e');

  it('delivers every record, column by column, and leaves no list or in-flight key behind', async () => {
    const { db, redis, prefix } = services;
    await pushRoundRobin(redis, msgpackKeys(prefix), fixtures.map((f) => f.bytes));
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: db.url, port: await freePort(), tableSharding: sharding, sluice: { encode_threads: threads } }));
    const sluice = startSluice(['--conf', config]);
    try {
      await waitFor(async () => {
        const tables = await analyticsTables(db);
        return tables.length > 0 && (await rowsOf(db, tables)).length >= expectedRecords.length;
      }, 30_000, 'all rows');
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 10_000, 'empty lists');
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await sluice.exited).toBe(0);

    const rows = await rowsOf(db, await analyticsTables(db));
    if (sharding) {
      for (const row of rows) expect(row._table).toBe(`tyk_analytics_${(row.timestamp as Date).toISOString().slice(0, 10).replaceAll('-', '')}`);
    }
    const actual = rows.map(({ _table, ...row }) => normaliseRow(row)).map(sortKey).sort();
    const expected = expectedRecords.map(expectedRow).map(sortKey).sort();
    expect(actual).toHaveLength(expected.length);
    expect(actual).toEqual(expected);
    expect(await leftoverKeys(redis, prefix)).toEqual([]);
  });
});

describe('large records (detailed recording of big bodies)', () => {
  const services = fileServices('e2e_large');

  it('are claimed a few at a time, within the raw-byte budget, and all arrive', async () => {
    const { db, redis, prefix } = services;
    // A 16 MB budget leaves 4 MB for raw bytes; 8 claims at once make 512 KB per claim: two of these
    // 200 KB records fit, three do not. purge_chunk alone would take all 30 in one claim.
    const body = Buffer.alloc(150_000, 'GET /upload HTTP/1.1\r\n').toString('base64');
    const base = fixtures[14]!.record;
    const elements = Array.from({ length: 30 }, (_, i) => encodeAnalyticsMsgpack({ ...base, path: `/large/${i}`, raw_request: body }));
    expect(elements[0]!.length * 2).toBeLessThanOrEqual(512 * 1024);
    expect(elements[0]!.length * 3).toBeGreaterThan(512 * 1024);
    const [key] = msgpackKeys(prefix);
    await redis.rpush(key!, ...elements);
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: db.url, port: await freePort(), sluice: { memory_budget_mb: 16, claim_concurrency: 8 } }));
    const exit = await whileRunning(startSluice(['--conf', config]), async () => {
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 30_000, 'empty lists');
    });
    expect(exit).toBe(0);
    const paths = await db.pool.query<{ path: string }>('SELECT path FROM tyk_analytics');
    expect(paths.rows.map((r) => r.path).sort()).toEqual(elements.map((_, i) => `/large/${i}`).sort());
    const batches = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice_applied_batches');
    expect(batches.rows[0]!.n).toBe(15);
  });
});
