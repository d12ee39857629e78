import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import { createMongoSink, rawAnalyticsDocuments } from '../../sinks/mongo/index.js';
import { createMongoUptimeSink } from '../../sinks/uptime/mongo/index.js';
import { packBySize } from '../../sinks/mongo/batching.js';
import { DOCUMENT_TOO_LARGE_MARKER } from '../../sinks/mongo/documents.js';
import { SinkError, type Sink } from '../../sinks/sink.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { timeToMillis } from '../../src/record/go-time.js';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';
import { analyticsRecord, batchOf, mongoPump, neverAborted, realMongoOnly, startMongo, testSinkContext, type MongoTestServer } from '../harness/mongo.js';

/*
 * The `mongo` pump (reference §6.2, acceptance §9.5) and the Mongo uptime pump (§6.5). Capped collections
 * are checked through the `create` command Sluice sends on CongoDB, and on the server too with MONGO_URL.
 */

let mongo: MongoTestServer;
const opened: Array<Sink<unknown>> = [];

beforeAll(async () => {
  mongo = await startMongo('mongo-raw');
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await mongo.stop();
});
beforeEach(() => mongo.clearCommands());

let collections = 0;
function freshCollection(): string {
  return `raw_${++collections}`;
}

async function openRaw(meta: Record<string, unknown>, ctx = testSinkContext()) {
  const sink = createMongoSink(mongoPump('mongo', { mongo_url: mongo.url, ...meta }), ctx, mongo.hooks);
  opened.push(sink as Sink<unknown>);
  await sink.open(neverAborted);
  return sink;
}

async function indexNames(collection: string): Promise<string[]> {
  const indexes = await mongo.db.collection(collection).listIndexes().toArray().catch(() => [] as Document[]);
  return indexes.map((i) => i.name as string).sort();
}

/** Reads a stored document back into the record's json shape, for a field-by-field comparison. */
function storedAsRecord(d: Document): Partial<AnalyticsRecord> & { timestampMs: number; expireAtMs: number } {
  return {
    method: d.method, host: d.host, path: d.path, raw_path: d.rawpath, content_length: d.contentlength, user_agent: d.useragent,
    day: d.day, month: d.month, year: d.year, hour: d.hour, response_code: d.responsecode, api_key: d.apikey,
    api_version: d.apiversion, api_name: d.apiname, api_id: d.apiid, org_id: d.orgid, oauth_id: d.oauthid,
    request_time: d.requesttime, raw_request: d.rawrequest, raw_response: d.rawresponse, ip_address: d.ipaddress,
    geo: {
      country: { iso_code: d.geo.country.isocode },
      city: { geoname_id: d.geo.city.geonameid, names: d.geo.city.names },
      location: { latitude: d.geo.location.latitude, longitude: d.geo.location.longitude, time_zone: d.geo.location.timezone },
    },
    network: { open_connections: d.network.openconnections, closed_connections: d.network.closedconnection, bytes_in: d.network.bytesin, bytes_out: d.network.bytesout },
    latency: { total: d.latency.total, upstream: d.latency.upstream, gateway: d.latency.gateway },
    tags: d.tags, alias: d.alias, track_path: d.trackpath, original_path: d.originalpath, listen_path: d.listenpath,
    timestampMs: (d.timestamp as Date).getTime(), expireAtMs: (d.expireAt as Date).getTime(),
  };
}

function expectedAsStored(r: AnalyticsRecord) {
  const { api_schema: _s, graphql_stats: _g, mcp_stats: _m, timestamp, expireAt, ...rest } = r;
  return { ...rest, timestampMs: timeToMillis(timestamp), expireAtMs: timeToMillis(expireAt) };
}

describe(`mongo pump: documents (${process.env.MONGO_URL ? 'MongoDB' : 'CongoDB'})`, () => {
  it('TestMongoPump_WriteData: every stored fixture record round-trips field by field (ignoring _id, api_schema, GraphQL stats); graph records are stored too', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection });
    const fixtures = analyticsMsgpackFixtures();
    const records = fixtures.map((f) => f.record);
    const outcome = await sink.write(batchOf(records, fixtures.map((f) => f.bytes)), neverAborted);
    const kept = records.filter((r) => r.response_code !== -1 && !r.mcp_stats.is_mcp);
    expect(outcome).toEqual({ written: kept.length, alreadyApplied: false, rejected: [] });
    const stored = await mongo.db.collection(collection).find().sort({ _id: 1 }).toArray();
    const byTime = [...kept].sort((a, b) => a.timestamp.sec - b.timestamp.sec);
    expect(stored.map(storedAsRecord).sort((a, b) => a.timestampMs - b.timestampMs || a.path!.localeCompare(b.path!)))
      .toEqual(byTime.map(expectedAsStored).sort((a, b) => a.timestampMs - b.timestampMs || a.path.localeCompare(b.path)));
    expect(kept.some((r) => r.graphql_stats.IsGraphQL)).toBe(true);
  });

  it('skips ResponseCode -1 and MCP records as Tyk does', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection });
    const records = [analyticsRecord({ response_code: -1 }), analyticsRecord({ mcp_stats: { is_mcp: true, jsonrpc_method: 'tools/call', primitive_type: 'tool', primitive_name: 'x' } }), analyticsRecord()];
    expect((await sink.write(batchOf(records), neverAborted)).written).toBe(1);
    expect(await mongo.db.collection(collection).countDocuments()).toBe(1);
  });

  it('an all-skipped batch touches nothing in the store', async () => {
    const sink = await openRaw({ collection_name: freshCollection() });
    mongo.clearCommands();
    const outcome = await sink.write(batchOf([analyticsRecord({ response_code: -1 })]), neverAborted);
    expect(outcome).toEqual({ written: 0, alreadyApplied: false, rejected: [] });
    expect(mongo.sent('insert')).toEqual([]);
  });

  it('the _id is 4 bytes of the record time in seconds and 8 bytes of its record id', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection });
    const batch = batchOf([analyticsRecord()]);
    await sink.write(batch, neverAborted);
    const [doc] = await mongo.db.collection(collection).find().toArray();
    const hex = doc!._id.toHexString();
    expect(parseInt(hex.slice(0, 8), 16)).toBe(Date.UTC(2024, 4, 10, 12) / 1000);
    expect(hex.slice(8)).toBe(batch.records[0]!.id.slice(0, 16));
  });

  it('redelivery of a raw batch inserts nothing new (unordered insert, duplicate keys are success)', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection });
    const batch = batchOf(Array.from({ length: 20 }, (_, i) => analyticsRecord({ path: `/p${i}` })));
    expect((await sink.write(batch, neverAborted)).written).toBe(20);
    const again = await sink.write(batch, neverAborted);
    expect(again).toEqual({ written: 0, alreadyApplied: true, rejected: [] });
    expect(await mongo.db.collection(collection).countDocuments()).toBe(20);
    expect(mongo.sent('insert').every((c) => c.ordered === false)).toBe(true);
  });

  it('a partly applied batch (a crash mid-batch) inserts only what is missing', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection });
    const batch = batchOf(Array.from({ length: 10 }, (_, i) => analyticsRecord({ path: `/q${i}` })));
    await sink.write({ id: batch.id, records: batch.records.slice(0, 4) }, neverAborted);
    expect(await sink.write(batch, neverAborted)).toEqual({ written: 6, alreadyApplied: false, rejected: [] });
    expect(await mongo.db.collection(collection).countDocuments()).toBe(10);
  });
});

describe('mongo pump: batching (max_insert_batch_size_bytes, max_document_size_bytes)', () => {
  const empties = (graphEveryOther: boolean) =>
    Array.from({ length: 100 }, (_, i) => analyticsRecord({ graphql_stats: { ...analyticsRecord().graphql_stats, IsGraphQL: graphEveryOther && i % 2 === 0 }, raw_request: '', raw_response: '' }));

  it('TestMongoPump_AccumulateSet: 100 empty records with a 5120-byte batch limit make 20 batches of 5; graph records change nothing', () => {
    for (const graph of [false, true]) {
      const batches = packBySize(rawAnalyticsDocuments(batchOf(empties(graph)).records, 10 * 1024 * 1024), 5120, true);
      expect(batches.map((b) => b.length)).toEqual(Array(20).fill(5));
    }
  });

  it('TestMongoPump_AccumulateSet through the sink: 20 insert commands of 5 documents, 100 stored', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection, max_insert_batch_size_bytes: 5120 });
    mongo.clearCommands();
    await sink.write(batchOf(empties(true)), neverAborted);
    expect(mongo.sent('insert').map((c) => (c.documents as unknown[]).length)).toEqual(Array(20).fill(5));
    expect(await mongo.db.collection(collection).countDocuments()).toBe(100);
  });

  it('W16: the trailing batch is kept when the last record is skipped (ResponseCode -1)', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection, max_insert_batch_size_bytes: 5120 });
    const records = [...empties(false).slice(0, 12), analyticsRecord({ response_code: -1 })];
    expect((await sink.write(batchOf(records), neverAborted)).written).toBe(12);
    expect(await mongo.db.collection(collection).countDocuments()).toBe(12);
  });

  it('an oversized record is written with its raw request and response replaced by Tyk\'s marker', async () => {
    const collection = freshCollection();
    const sink = await openRaw({ collection_name: collection, max_document_size_bytes: 2048 });
    const big = analyticsRecord({ raw_request: 'A'.repeat(4096), raw_response: 'B'.repeat(10), path: '/big' });
    const small = analyticsRecord({ raw_request: 'cmVx', raw_response: 'cmVz', path: '/small' });
    await sink.write(batchOf([big, small]), neverAborted);
    const docs = await mongo.db.collection(collection).find().toArray();
    const byPath = Object.fromEntries(docs.map((d) => [d.path, d]));
    expect(byPath['/big']).toMatchObject({ rawrequest: '', rawresponse: DOCUMENT_TOO_LARGE_MARKER });
    expect(Buffer.from(DOCUMENT_TOO_LARGE_MARKER, 'base64').toString()).toBe('Document too large, not writing raw request and raw response!');
    expect(byPath['/small']).toMatchObject({ rawrequest: 'cmVx', rawresponse: 'cmVz' });
  });

  it('TestMongoPump_AccumulateSetIgnoreDocSize (graph path): Sluice has no mongo-graph pump; in the mongo pump an oversized graph record gets the marker like any other, as on Tyk\'s non-graph path', () => {
    const graph = analyticsRecord({ raw_request: 'A'.repeat(4096), graphql_stats: { ...analyticsRecord().graphql_stats, IsGraphQL: true } });
    const [doc] = rawAnalyticsDocuments(batchOf([graph]).records, 1024);
    expect(doc!.item.doc.rawresponse).toBe(DOCUMENT_TOO_LARGE_MARKER);
  });
});

describe('mongo pump: indexes and capping', () => {
  const rows: Array<{ label: string; dbType: number; omit: boolean; existed: boolean; indexes: number }> = [
    { label: 'Standard, omit_index_creation → 1 (_id only)', dbType: 0, omit: true, existed: false, indexes: 1 },
    { label: 'Standard, collection existed → 1', dbType: 0, omit: false, existed: true, indexes: 1 },
    { label: 'Standard, new collection → 4', dbType: 0, omit: false, existed: false, indexes: 4 },
    { label: 'DocDB, existed → 4', dbType: 1, omit: false, existed: true, indexes: 4 },
    { label: 'DocDB, new → 4', dbType: 1, omit: false, existed: false, indexes: 4 },
    { label: 'Cosmos, existed → 4', dbType: 2, omit: false, existed: true, indexes: 4 },
    { label: 'Cosmos, new → 4', dbType: 2, omit: false, existed: false, indexes: 4 },
    { label: 'DocDB, omit_index_creation → 1', dbType: 1, omit: true, existed: false, indexes: 1 },
    { label: 'Cosmos, omit_index_creation → 1', dbType: 2, omit: true, existed: false, indexes: 1 },
  ];
  for (const row of rows) {
    it(`TestMongoPumpOmitIndexCreation: ${row.label}`, async () => {
      const collection = freshCollection();
      if (row.existed) await mongo.db.createCollection(collection);
      const sink = await openRaw({ collection_name: collection, mongo_db_type: row.dbType, omit_index_creation: row.omit });
      await sink.write(batchOf([analyticsRecord()]), neverAborted);
      const names = await indexNames(collection);
      expect(names).toHaveLength(row.indexes);
      if (row.indexes === 4) expect(names).toEqual(['_id_', 'apiid_1', 'logBrowserIndex', 'orgid_1']);
      const background = mongo.sentIndexes().map((i) => i.background);
      expect(background.every((b) => b === (row.dbType === 0 ? true : undefined))).toBe(true);
    });
  }

  it('capping disabled: no capped create is sent', async () => {
    await openRaw({ collection_name: freshCollection() });
    expect(mongo.sent('create')).toEqual([]);
  });

  it('cap size 0 means 5 GiB; the capped collection also gets Tyk\'s indexes (W20)', async () => {
    const collection = freshCollection();
    await openRaw({ collection_name: collection, collection_cap_enable: true, collection_cap_max_size_bytes: 0 });
    expect(mongo.sent('create')).toEqual([expect.objectContaining({ create: collection, capped: true, size: 5 * 1024 ** 3 })]);
    expect(await indexNames(collection)).toEqual(['_id_', 'apiid_1', 'logBrowserIndex', 'orgid_1']);
  });

  it('cap size 1 GiB means 1 GiB', async () => {
    const collection = freshCollection();
    await openRaw({ collection_name: collection, collection_cap_enable: true, collection_cap_max_size_bytes: 1024 ** 3 });
    expect(mongo.sent('create')).toEqual([expect.objectContaining({ create: collection, capped: true, size: 1024 ** 3 })]);
    if (realMongoOnly(mongo, 'the server reports the new collection as capped')) {
      const [info] = await mongo.db.listCollections({ name: collection }).toArray();
      expect((info as { options: Document }).options).toMatchObject({ capped: true, size: 1024 ** 3 });
    }
  });

  it('an existing uncapped collection is not capped; Sluice logs that it will not convert it', async () => {
    const collection = freshCollection();
    await mongo.db.createCollection(collection);
    mongo.clearCommands();
    const ctx = testSinkContext();
    await openRaw({ collection_name: collection, collection_cap_enable: true }, ctx);
    expect(mongo.sent('create')).toEqual([]);
    expect(ctx.lines.some((l) => l.level === 40 && /will not convert/.test(String(l.msg)))).toBe(true);
  });
});

describe('mongo pump: configuration and connection errors', () => {
  it('collection_name missing: a permanent SinkError at open that names the key', async () => {
    const sink = createMongoSink(mongoPump('mongo', { mongo_url: mongo.url }), testSinkContext());
    const err = await sink.open(neverAborted).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).transient).toBe(false);
    expect((err as SinkError).message).toMatch(/collection_name/);
  });

  it('W27: an unreachable server is a transient SinkError, not a process exit; the password never shows', async () => {
    const pump = { ...mongoPump('mongo', { mongo_url: 'mongodb://tyk:hunter2@127.0.0.1:9/tyk_analytics', collection_name: 'x' }), timeout: 1 };
    const err = await createMongoSink(pump, testSinkContext()).open(neverAborted).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).transient).toBe(true);
    expect((err as SinkError).message).not.toMatch(/hunter2/);
  });

  it('TestGetBlurredURL: credentials in mongo_url are hidden in messages (Sluice writes user:[secret]@ where Tyk writes ***:***@)', async () => {
    const err = (await createMongoSink(mongoPump('mongo', { mongo_url: 'mongodb+srv://admin:pass@server.example.com/?connectTimeoutMS=300000', collection_name: 'x' }), testSinkContext())
      .open(neverAborted).catch((e: unknown) => e)) as SinkError;
    expect(err).toBeInstanceOf(SinkError);
    // No database in the URL path: refused before any connection, with the URL shown blurred.
    expect(err.message).toContain('admin:[secret]@server.example.com/?connectTimeoutMS=300000');
    expect(err.message).not.toContain('pass@');
  });

  it('driver "mgo" is accepted with the same meaning', async () => {
    const sink = await openRaw({ collection_name: freshCollection(), driver: 'mgo' });
    expect((await sink.health()).ok).toBe(true);
  });
});

describe('Mongo uptime pump (§6.5)', () => {
  async function openUptime(extra: Record<string, unknown>) {
    const sink = createMongoUptimeSink({ uptime_type: 'mongo', mongo_url: mongo.url, ...extra }, testSinkContext(), mongo.hooks);
    opened.push(sink as Sink<unknown>);
    await sink.open(neverAborted);
    return sink;
  }

  for (const count of [3, 6]) {
    it(`TestWriteUptimeData: ${count} uptime records → ${count} documents in tyk_uptime_analytics`, async () => {
      await mongo.db.collection('tyk_uptime_analytics').deleteMany({});
      const sink = await openUptime({});
      const fixtures = uptimeMsgpackFixtures().slice(0, count);
      await sink.write(batchOf(fixtures.map((f) => f.record), fixtures.map((f) => f.bytes)), neverAborted);
      const docs = await mongo.db.collection('tyk_uptime_analytics').find().toArray();
      expect(docs).toHaveLength(count);
      expect(Object.keys(docs[0]!)).toEqual(['_id', 'url', 'requesttime', 'responsecode', 'tcperror', 'servererror', 'day', 'month', 'year', 'hour', 'minute', 'timestamp', 'expireAt', 'apiid', 'orgid']);
    });
  }

  it('W22: collection_name is honoured for the documents too, and capping and indexes apply to that same collection', async () => {
    const sink = await openUptime({ collection_name: 'uptime_custom', collection_cap_enable: true, collection_cap_max_size_bytes: 1024 ** 2 });
    const fixtures = uptimeMsgpackFixtures().slice(0, 5);
    const batch = batchOf(fixtures.map((f) => f.record), fixtures.map((f) => f.bytes));
    await sink.write(batch, neverAborted);
    await sink.write(batch, neverAborted);
    expect(await mongo.db.collection('uptime_custom').countDocuments()).toBe(5);
    expect(mongo.sent('create')).toEqual([expect.objectContaining({ create: 'uptime_custom', capped: true, size: 1024 ** 2 })]);
    expect(await indexNames('uptime_custom')).toEqual(['_id_', 'apiid_1', 'logBrowserIndex', 'orgid_1']);
  });
});
