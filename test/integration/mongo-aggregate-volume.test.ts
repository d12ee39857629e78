import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BSON, type Document } from 'mongodb';
import { createMongoAggregateSink, type FoldedDimensionEvent } from '../../sinks/mongo-aggregate/index.js';
import { OTHER_KEY } from '../../sinks/mongo-aggregate/keys.js';
import { DOCUMENT_BUDGET_BYTES } from '../../sinks/mongo-aggregate/mongo-bucket.js';
import type { Sink, SinkBatch } from '../../sinks/sink.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { analyticsRecord, batchOf, mongoPump, neverAborted, startMongo, testSinkContext, type MongoTestServer } from '../harness/mongo.js';
import { random as seededRandom } from '../../src/demo/traffic.js';

/*
 * mongo-pump-aggregate under volume: the document budget that replaces self-healing (W12), and aggregate
 * documents checked against counts recomputed here, independently of src/aggregate, from the raw records,
 * for random records split into random batches written by two workers.
 */

let mongo: MongoTestServer;
const opened: Array<Sink<AnalyticsRecord>> = [];

beforeAll(async () => {
  mongo = await startMongo('mongo-aggregate-volume');
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await mongo.stop();
});

const HOUR = Date.UTC(2024, 4, 10, 12, 0, 0);
const MINUTE = 60_000;

async function openAggregate(onFolded?: (e: FoldedDimensionEvent) => void) {
  const sink = createMongoAggregateSink(mongoPump('mongo-pump-aggregate', { mongo_url: mongo.url }), testSinkContext(), { ...mongo.hooks, onFolded });
  opened.push(sink);
  await sink.open(neverAborted);
  return sink;
}

let writes = 0;
function freshBatch(records: AnalyticsRecord[]): SinkBatch<AnalyticsRecord> {
  const n = ++writes;
  return batchOf(records, records.map((r, i) => Buffer.from(`${n}:${i}:${JSON.stringify(r)}`)));
}

describe(`dimension budget instead of self-healing, W12 (${process.env.MONGO_URL ? 'MongoDB' : 'CongoDB'})`, () => {
  it('TestMongoAggregatePump_SelfHealing, Sluice\'s way: 50,000 distinct endpoints in one hour stay under the budget, every hit counted, folds reported', async () => {
    const folded: FoldedDimensionEvent[] = [];
    const sink = await openAggregate((e) => folded.push(e));
    for (let part = 0; part < 2; part++) {
      const records = Array.from({ length: 25_000 }, (_, i) => analyticsRecord({ org_id: 'budget', track_path: true, path: `/endpoint/${part}/${i}` }, HOUR + part * 30 * MINUTE));
      await sink.write(freshBatch(records), neverAborted);
    }
    const doc = (await mongo.db.collection('z_tyk_analyticz_aggregate_budget').findOne({}))!;
    const size = BSON.calculateObjectSize(doc);
    console.log(`[mongo-aggregate] 50,000 endpoints: document ${size} bytes, ${Object.keys(doc.endpoints).length} endpoint entries kept, budget ${DOCUMENT_BUDGET_BYTES}`);
    expect(size).toBeLessThan(DOCUMENT_BUDGET_BYTES + 256 * 1024);
    expect(doc.total.hits).toBe(50_000);
    const endpointHits = Object.values(doc.endpoints as Record<string, Document>).reduce((n, c) => n + (c.hits as number), 0);
    expect(endpointHits).toBe(50_000);
    expect(doc.endpoints[OTHER_KEY]).toMatchObject({ identifier: 'other' });
    const foldedEndpoints = folded.filter((e) => e.dimension === 'endpoints').reduce((n, e) => n + e.entries, 0);
    expect(foldedEndpoints).toBe(50_000 - (Object.keys(doc.endpoints).length - 1));
    expect(doc.lists.endpoints).toHaveLength(Object.keys(doc.endpoints).length);
  });
});


interface Expected {
  hits: number; success: number; errortotal: number; totalrequesttime: number; totallatency: number;
  maxlatency: number; okMinLatency: number | undefined; bytesin: number; errormap: Record<string, number>;
}

function emptyExpected(): Expected {
  return { hits: 0, success: 0, errortotal: 0, totalrequesttime: 0, totallatency: 0, maxlatency: 0, okMinLatency: undefined, bytesin: 0, errormap: {} };
}

/** Counts one record into a counter the plain way, straight from the definitions in reference §4. */
function count(e: Expected, r: AnalyticsRecord): void {
  if (r.response_code === -1) {
    e.bytesin += r.network.bytes_in;
    return;
  }
  const isError = r.response_code >= 400;
  e.hits++;
  e.success += r.response_code >= 200 && r.response_code < 300 ? 1 : 0;
  e.errortotal += isError ? 1 : 0;
  if (isError) e.errormap[r.response_code] = (e.errormap[r.response_code] ?? 0) + 1;
  e.totalrequesttime += r.request_time;
  e.totallatency += r.latency.total;
  e.maxlatency = Math.max(e.maxlatency, r.latency.total);
  if (!isError) e.okMinLatency = Math.min(e.okMinLatency ?? Infinity, r.latency.total);
}

type Expectations = Map<string, Map<string, Expected>>;

function expectedFrom(records: AnalyticsRecord[]): Map<string, Expectations> {
  const docs = new Map<string, Expectations>();
  const at = (docKey: string, dimension: string, identifier: string) => {
    if (!docs.has(docKey)) docs.set(docKey, new Map());
    const dims = docs.get(docKey)!;
    if (!dims.has(dimension)) dims.set(dimension, new Map());
    const counters = dims.get(dimension)!;
    if (!counters.has(identifier)) counters.set(identifier, emptyExpected());
    return counters.get(identifier)!;
  };
  for (const r of records) {
    const docKey = `${r.org_id}|${Math.floor(r.timestamp.sec / 3600) * 3600}`;
    count(at(docKey, 'total', ''), r);
    if (r.api_id !== '') count(at(docKey, 'apiid', r.api_id), r);
    if (r.response_code === -1) continue;
    if (r.api_key !== '') count(at(docKey, 'apikeys', r.api_key), r);
    if (r.response_code >= 400) count(at(docKey, 'errors', String(r.response_code)), r);
    if (r.track_path) count(at(docKey, 'endpoints', r.path), r);
  }
  return docs;
}

function randomRecords(random: () => number, n: number): AnalyticsRecord[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  return Array.from({ length: n }, () => {
    const code = pick([200, 200, 201, 302, 404, 500, -1]);
    return analyticsRecord({
      org_id: pick(['pa', 'pb']), api_id: pick(['api1', 'api2', 'api.3']), api_key: pick(['', 'k1', 'k.2', '$k3']),
      response_code: code, path: pick(['/x', '/y.z', '/$q']), track_path: random() < 0.7,
      request_time: Math.floor(random() * 100), latency: { total: Math.floor(random() * 200), upstream: Math.floor(random() * 150), gateway: 1 },
      network: { open_connections: 0, closed_connections: 0, bytes_in: code === -1 ? Math.floor(random() * 1000) : 0, bytes_out: 0 },
    }, HOUR + Math.floor(random() * 3 * 60) * MINUTE + Math.floor(random() * 60_000));
  });
}

function compare(doc: Document, expected: Expectations): void {
  const byIdentifier = (map: Record<string, Document>) => new Map(Object.values(map ?? {}).map((c) => [c.identifier as string, c]));
  for (const [dimension, counters] of expected) {
    const stored = dimension === 'total' ? new Map([['', doc.total as Document]]) : byIdentifier(doc[dimension]);
    expect([...stored.keys()].sort(), `${dimension} keys`).toEqual([...counters.keys()].sort());
    for (const [identifier, e] of counters) {
      const c = stored.get(identifier)!;
      const where = `${dimension}[${identifier}]`;
      expect({ hits: c.hits, success: c.success, errortotal: c.errortotal, totalrequesttime: c.totalrequesttime, totallatency: c.totallatency, bytesin: c.bytesin }, where)
        .toEqual({ hits: e.hits, success: e.success, errortotal: e.errortotal, totalrequesttime: e.totalrequesttime, totallatency: e.totallatency, bytesin: e.bytesin });
      if (e.hits > 0) {
        expect(c.maxlatency, where).toBe(e.maxlatency);
        expect(c.requesttime, where).toBeCloseTo(e.totalrequesttime / e.hits, 9);
        expect(Object.fromEntries(Object.entries(c.errormap ?? {})), where).toEqual(e.errormap);
      }
      // Tyk never lowers a minimum with an error, and an all-error counter has no minimum at all.
      expect(c.minlatency, where).toBe(e.okMinLatency);
    }
  }
  for (const dimension of ['apiid', 'apikeys', 'errors', 'endpoints']) {
    expect((doc.lists[dimension] as Document[]).length, `lists.${dimension}`).toBe(Object.keys(doc[dimension] ?? {}).length);
  }
}

describe('aggregates equal a recomputation from the raw records, whatever the batching (property)', () => {
  for (const seed of [1, 7, 42]) {
    it(`seed ${seed}: 400 random records in random batches over two workers`, async () => {
      await Promise.all(['pa', 'pb'].map((org) => mongo.db.collection(`z_tyk_analyticz_aggregate_${org}`).deleteMany({})));
      const random = seededRandom(seed);
      const records = randomRecords(random, 400);
      const workers = [await openAggregate(), await openAggregate()];
      for (let i = 0; i < records.length; ) {
        const size = 1 + Math.floor(random() * 60);
        await workers[Math.floor(random() * 2)]!.write(freshBatch(records.slice(i, i + size)), neverAborted);
        i += size;
      }
      const expected = expectedFrom(records);
      let documents = 0;
      for (const org of ['pa', 'pb']) {
        for (const doc of await mongo.db.collection(`z_tyk_analyticz_aggregate_${org}`).find().toArray()) {
          const key = `${doc.orgid}|${(doc.timestamp as Date).getTime() / 1000}`;
          expect(expected.has(key), key).toBe(true);
          compare(doc, expected.get(key)!);
          documents++;
        }
      }
      expect(documents).toBe(expected.size);
    });
  }
});
