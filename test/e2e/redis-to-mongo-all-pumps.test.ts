import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';
import { startMongo, type MongoTestServer } from '../harness/mongo.js';
import { REDIS_URL, leftoverKeys, msgpackKeys, pushRoundRobin, uniquePrefix } from '../harness/redis.js';
import { freePort, startSluice, waitFor, writeConfig, recentLog } from '../harness/sluice.js';
import { uptimeKey } from '../../src/source/source-keys.js';

/*
 * The golden fixtures through Redis into Tyk's four MongoDB pumps at once — `mongo`, `mongo-pump-selective`,
 * `mongo-pump-aggregate` and the Mongo uptime pump — by a sluice process. Raw documents are compared field by
 * field with the fixture JSON under Tyk's BSON names (reference §3.1–3.5), written out here independently
 * of the sink's own mapping. Redis database 6 keeps the fixed uptime key to this test.
 */

const REDIS_DB = 6;
const analytics = analyticsMsgpackFixtures();
const uptime = uptimeMsgpackFixtures();

type Json = Record<string, any>;
const ms = (t: { sec: number; nsec: number }) => t.sec * 1000 + Math.floor(t.nsec / 1e6);

/** Tyk's BSON document for a record, from its JSON form (reference §3.1, §3.2). */
function expectedRawDocument(f: (typeof analytics)[number]): Json {
  const r = f.json as Json;
  return {
    method: r.method, host: r.host, path: r.path, rawpath: r.raw_path, contentlength: r.content_length,
    useragent: r.user_agent, day: r.day, month: r.month, year: r.year, hour: r.hour, responsecode: r.response_code,
    apikey: r.api_key, timestamp: ms(f.record.timestamp), apiversion: r.api_version, apiname: r.api_name,
    apiid: r.api_id, orgid: r.org_id, oauthid: r.oauth_id, requesttime: r.request_time, rawrequest: r.raw_request,
    rawresponse: r.raw_response, ipaddress: r.ip_address,
    geo: {
      country: { isocode: r.geo.country.iso_code },
      city: { geonameid: r.geo.city.geoname_id, names: r.geo.city.names },
      location: { latitude: r.geo.location.latitude, longitude: r.geo.location.longitude, timezone: r.geo.location.time_zone },
    },
    network: {
      openconnections: r.network.open_connections, closedconnection: r.network.closed_connections,
      bytesin: r.network.bytes_in, bytesout: r.network.bytes_out,
    },
    latency: { total: r.latency.total, upstream: r.latency.upstream, gateway: r.latency.gateway },
    tags: r.tags, alias: r.alias, trackpath: r.track_path, expireAt: ms(f.record.expireAt),
    originalpath: r.original_path, listenpath: r.listen_path,
  };
}

/** A stored document as plain JSON values: dates as milliseconds, BSON longs as numbers, no _id. */
function plain(doc: Json): Json {
  const { _id, ...rest } = doc;
  // The replacer sees a Date after its toJSON; the holder still has the Date itself.
  return JSON.parse(JSON.stringify(rest, function (this: Json, k, v) {
    const original = this[k];
    if (original instanceof Date) return original.getTime();
    if (v && typeof v === 'object' && typeof v.toNumber === 'function') return v.toNumber();
    return v;
  })) as Json;
}

const byKey = (a: Json, b: Json) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;

describe('fixtures from Redis into mongo + selective + aggregate + uptime at once', () => {
  let mongo: MongoTestServer;
  let redis: Redis;
  const prefix = uniquePrefix('allmongo');

  beforeAll(async () => {
    mongo = await startMongo('allmongo');
    redis = new Redis(`${REDIS_URL}/${REDIS_DB}`);
    await redis.flushdb();
  });
  afterAll(async () => {
    await redis.flushdb();
    await redis.quit();
    await mongo.stop();
  });

  it(`writes Tyk's documents field by field (${'MONGO_URL' in process.env ? 'real MongoDB' : 'CongoDB'})`, { timeout: 120_000 }, async () => {
    await pushRoundRobin(redis, msgpackKeys(prefix), analytics.map((f) => f.bytes));
    await pushRoundRobin(redis, [uptimeKey().name], uptime.map((f) => f.bytes));
    const config = writeConfig({
      analytics_storage_config: { host: '127.0.0.1', port: 6379, key_prefix: prefix, database: REDIS_DB },
      purge_delay: 0.2, purge_chunk: 100, health_check_endpoint_port: await freePort(),
      uptime_pump_config: { uptime_type: 'mongo', mongo_url: mongo.url, collection_name: 'tyk_uptime_analytics' },
      pumps: {
        mongo: { type: 'mongo', meta: { mongo_url: mongo.url, collection_name: 'tyk_analytics' } },
        selective: { type: 'mongo-pump-selective', meta: { mongo_url: mongo.url } },
        aggregate: { type: 'mongo-pump-aggregate', meta: { mongo_url: mongo.url } },
      },
      sluice: { lease_seconds: 2, shutdown_timeout: 8 },
    });
    const sluice = startSluice(['--conf', config]);
    const stored = (collection: string) => mongo.db.collection(collection).countDocuments();
    // Tyk's raw Mongo pumps skip MCP records and network-only (-1) records.
    const rawExpected = analytics.filter((f) => !f.record.mcp_stats.is_mcp && f.record.response_code !== -1);
    try {
      await waitFor(async () => (await stored('tyk_analytics')) === rawExpected.length && (await stored('tyk_uptime_analytics')) === uptime.length
        && (await leftoverKeys(redis, prefix)).length === 0, 60_000, 'every pump written');
    } catch (err) {
      console.log(recentLog(sluice, 12));
      console.log(await stored("tyk_analytics"), rawExpected.length, await stored("tyk_uptime_analytics"), await leftoverKeys(redis, prefix));
      throw err;
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await sluice.exited).toBe(0);

    const raw = (await mongo.db.collection('tyk_analytics').find({}).toArray()).map(plain).sort(byKey);
    expect(raw).toEqual(rawExpected.map(expectedRawDocument).map((d) => plain(d)).sort(byKey));

    const orgs = [...new Set(rawExpected.map((f) => f.record.org_id).filter((o) => o !== ''))];
    for (const org of orgs) {
      expect(await stored(`z_tyk_analyticz_${org}`)).toBe(rawExpected.filter((f) => f.record.org_id === org).length);
    }

    const aggregatable = analytics.filter((f) => f.record.org_id !== '' && !f.record.mcp_stats.is_mcp && !f.record.graphql_stats.IsGraphQL && f.record.response_code !== -1);
    for (const org of new Set(aggregatable.map((f) => f.record.org_id))) {
      const docs = await mongo.db.collection(`z_tyk_analyticz_aggregate_${org}`).find({}).toArray();
      const hits = docs.reduce((n, d) => n + Number((d.total as Json).hits), 0);
      expect(hits).toBe(aggregatable.filter((f) => f.record.org_id === org).length);
    }

    const uptimeDocs = (await mongo.db.collection('tyk_uptime_analytics').find({}).toArray()).map(plain);
    const expectedUptime = uptime.map((f) => {
      const u = f.json as Json;
      return {
        url: u.url, requesttime: u.request_time, responsecode: u.response_code, tcperror: u.tcp_error, servererror: u.server_error,
        day: u.day, month: u.month, year: u.year, hour: u.hour, minute: u.minute,
        timestamp: ms(f.record.timestamp), expireAt: ms(f.record.ExpireAt), apiid: u.api_id, orgid: u.org_id,
      };
    });
    expect(uptimeDocs.sort(byKey)).toEqual(expectedUptime.map((d) => plain(d)).sort(byKey));
  });
});
