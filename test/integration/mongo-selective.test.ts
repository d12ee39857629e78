import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';
import { createMongoSelectiveSink } from '../../sinks/mongo-selective/index.js';
import { documentsByOrg } from '../../sinks/mongo-selective/selective-sink.js';
import { packBySize } from '../../sinks/mongo/batching.js';
import { SinkError, type Sink } from '../../sinks/sink.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { analyticsRecord, batchOf, freePort, mongoPump, neverAborted, startMongo, testSinkContext, type MongoTestServer } from '../harness/mongo.js';

/* mongo-pump-selective (reference §6.3, acceptance §9.5). */

let mongo: MongoTestServer;
const opened: Array<Sink<AnalyticsRecord>> = [];

beforeAll(async () => {
  mongo = await startMongo('mongo-selective');
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await mongo.stop();
});
beforeEach(() => mongo.clearCommands());

let orgs = 0;
const freshOrg = () => `org${++orgs}`;

async function openSelective(meta: Record<string, unknown> = {}) {
  const sink = createMongoSelectiveSink(mongoPump('mongo-pump-selective', { mongo_url: mongo.url, ...meta }), testSinkContext(), mongo.hooks);
  opened.push(sink);
  await sink.open(neverAborted);
  return sink;
}

async function indexNames(collection: string): Promise<string[]> {
  const indexes = await mongo.db.collection(collection).listIndexes().toArray().catch(() => [] as Document[]);
  return indexes.map((i) => i.name as string).sort();
}

/** How many records Tyk's selective AccumulateSet would keep: all packed batches together. */
function accumulated(records: AnalyticsRecord[], maxDocumentBytes: number): number {
  const org = documentsByOrg(batchOf(records).records, maxDocumentBytes).get('123');
  return packBySize(org?.documents ?? [], 10 * 1024 * 1024, false).flat().length;
}

describe('selective AccumulateSet', () => {
  it('100 small records → 100', () => {
    expect(accumulated(Array.from({ length: 100 }, () => analyticsRecord()), 10 * 1024 * 1024)).toBe(100);
  });

  it('max_document_size_bytes=100 → 0, every record estimates at least 1024 bytes', () => {
    expect(accumulated(Array.from({ length: 100 }, () => analyticsRecord()), 100)).toBe(0);
  });

  it('1500 records with a 1-byte raw response and a max document size of 1024 → 0', () => {
    expect(accumulated(Array.from({ length: 1500 }, () => analyticsRecord({ raw_response: 'x' })), 1024)).toBe(0);
  });

  it('a single oversized record at index 94 of 100 → 99', () => {
    const records = Array.from({ length: 100 }, (_, i) => analyticsRecord(i === 94 ? { raw_request: 'A'.repeat(5000) } : { path: `/p${i}` }));
    expect(accumulated(records, 4096)).toBe(99);
  });

  it('packing is strict (running + size < max): a 4096-byte batch holds 3 empty records, not 4', () => {
    const org = documentsByOrg(batchOf(Array.from({ length: 8 }, () => analyticsRecord())).records, 10 * 1024 * 1024).get('123')!;
    expect(packBySize(org.documents, 4096, false).map((b) => b.length)).toEqual([3, 3, 2]);
  });
});

describe(`selective TestEnsureIndexes (${process.env.MONGO_URL ? 'MongoDB' : 'CongoDB'})`, () => {
  it('new collection → _id_, apiid_1, expireAt_1 (TTL, expireAfterSeconds 0) and logBrowserIndex', async () => {
    const org = freshOrg();
    const sink = await openSelective();
    await sink.write(batchOf([analyticsRecord({ org_id: org })]), neverAborted);
    const collection = `z_tyk_analyticz_${org}`;
    expect(await indexNames(collection)).toEqual(['_id_', 'apiid_1', 'expireAt_1', 'logBrowserIndex']);
    const sent = mongo.sentIndexes();
    expect(sent).toContainEqual(expect.objectContaining({ key: { expireAt: 1 }, expireAfterSeconds: 0 }));
    expect(sent).toContainEqual(expect.objectContaining({ name: 'logBrowserIndex', key: { timestamp: -1, apiid: 1, apikey: 1, responsecode: 1 } }));
    const ttl = (await mongo.db.collection(collection).listIndexes().toArray()).find((i) => i.name === 'expireAt_1');
    expect(ttl?.expireAfterSeconds).toBe(0);
  });

  it('CosmosDB → no expireAt_1', async () => {
    const org = freshOrg();
    const sink = await openSelective({ mongo_db_type: 2 });
    await sink.write(batchOf([analyticsRecord({ org_id: org })]), neverAborted);
    expect(await indexNames(`z_tyk_analyticz_${org}`)).toEqual(['_id_', 'apiid_1', 'logBrowserIndex']);
  });

  it('omit_index_creation → no index is created (and no collection before the first insert)', async () => {
    const org = freshOrg();
    const sink = await openSelective({ omit_index_creation: true });
    expect(await mongo.db.listCollections({ name: `z_tyk_analyticz_${org}` }).toArray()).toEqual([]);
    await sink.write(batchOf([analyticsRecord({ org_id: org })]), neverAborted);
    expect(mongo.sent('createIndexes')).toEqual([]);
    expect(await indexNames(`z_tyk_analyticz_${org}`)).toEqual(['_id_']);
  });

  it('existing collection → only _id_', async () => {
    const org = freshOrg();
    await mongo.db.createCollection(`z_tyk_analyticz_${org}`);
    const sink = await openSelective();
    await sink.write(batchOf([analyticsRecord({ org_id: org })]), neverAborted);
    expect(await indexNames(`z_tyk_analyticz_${org}`)).toEqual(['_id_']);
  });
});

describe('selective TestWriteData', () => {
  it('three records of org abc → 3 documents in z_tyk_analyticz_abc, in input order', async () => {
    const sink = await openSelective();
    const records = ['/a', '/b', '/c'].map((path) => analyticsRecord({ org_id: 'abc', path }));
    expect((await sink.write(batchOf(records), neverAborted)).written).toBe(3);
    const docs = await mongo.db.collection('z_tyk_analyticz_abc').find().toArray();
    expect(docs.map((d) => d.path)).toEqual(['/a', '/b', '/c']);
  });

  it('a record with no org → nothing is written', async () => {
    const sink = await openSelective();
    mongo.clearCommands();
    expect(await sink.write(batchOf([analyticsRecord({ org_id: '' })]), neverAborted)).toEqual({ written: 0, alreadyApplied: false, rejected: [] });
    expect(mongo.sent('insert')).toEqual([]);
  });

  it('records of two orgs go to two collections; a redelivery inserts nothing new', async () => {
    const [a, b] = [freshOrg(), freshOrg()];
    const sink = await openSelective();
    const batch = batchOf([analyticsRecord({ org_id: a }), analyticsRecord({ org_id: b, path: '/x' }), analyticsRecord({ org_id: a, path: '/y' })]);
    expect((await sink.write(batch, neverAborted)).written).toBe(3);
    expect(await sink.write(batch, neverAborted)).toEqual({ written: 0, alreadyApplied: true, rejected: [] });
    expect(await mongo.db.collection(`z_tyk_analyticz_${a}`).countDocuments()).toBe(2);
    expect(await mongo.db.collection(`z_tyk_analyticz_${b}`).countDocuments()).toBe(1);
  });

  it('Sluice difference: an oversized record is returned as rejected (dead-lettered with its reason), not dropped silently', async () => {
    const org = freshOrg();
    const sink = await openSelective({ max_document_size_bytes: 2048 });
    const batch = batchOf([analyticsRecord({ org_id: org, raw_request: 'A'.repeat(4096) }), analyticsRecord({ org_id: org, path: '/ok' })]);
    const outcome = await sink.write(batch, neverAborted);
    expect(outcome.written).toBe(1);
    expect(outcome.rejected).toEqual([{ recordId: batch.records[0]!.id, reason: expect.stringMatching(/too large/) }]);
  });

  it('W2: an insert error is returned as a transient SinkError, not swallowed', async () => {
    const port = await freePort();
    const doomed = new CongoServer({ port, storage: 'memory' });
    await doomed.start();
    const sink = createMongoSelectiveSink({ ...mongoPump('mongo-pump-selective', { mongo_url: `mongodb://127.0.0.1:${port}/doomed` }), timeout: 1 }, testSinkContext());
    await sink.open(neverAborted);
    await doomed.stop();
    const err = await sink.write(batchOf([analyticsRecord()]), neverAborted).catch((e: unknown) => e);
    await sink.close();
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).transient).toBe(true);
  });
});
