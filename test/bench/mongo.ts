/*
 * `npm run bench:mongo`: the `mongo` and `mongo-pump-aggregate` sinks, driven in this process, against a
 * bare insertMany measured in the same run on the same server.
 *
 *   insert_many_ceiling  collection.insertMany(docs, { ordered: false }) of exactly the documents the `mongo`
 *                        sink inserts for these records (built beforehand, untimed), 1,000 records' worth
 *                        per call, into a fresh collection of a fresh database
 *   mongo                createMongoSink(pump, ctx): sink.write(batch, signal) of 1,000-record batches
 *   mongo_aggregate      createMongoAggregateSink(pump, ctx), hourly (Tyk's defaults), the same batches
 *
 * Batches are built as the pipeline builds them (ids from the raw gateway bytes, batchOf in
 * test/harness/mongo.ts) from records decoded from their msgpack encoding; building them is not timed,
 * the sinks' own document building is. Like SinkRunner, two writes are in flight at a time everywhere. Rates
 * are input records per second for all three (the `mongo` sink skips network-only records, and so does the
 * ceiling, which inserts the same documents). Each phase gets a fresh database; sink.open() is not timed.
 *
 * Server: MONGO_URL when set, else CongoDB (in-process wire server from test/harness/mongo.ts, which then
 * shares this process's CPU with the client). Prints one JSON object. Environment: BENCH_RECORDS (default
 * 200000), BENCH_RUNS (default 3), MONGO_URL.
 */
import { pino } from 'pino';
import type { Document } from 'mongodb';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsTraffic } from '../../src/demo/traffic.js';
import { decodeAnalyticsMsgpack } from '../../src/decode/msgpack.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { PumpConfiguration } from '../../src/config/types.js';
import { createMongoSink, rawAnalyticsDocuments } from '../../sinks/mongo/index.js';
import { createMongoAggregateSink } from '../../sinks/mongo-aggregate/index.js';
import { DEFAULT_MAX_BYTES } from '../../sinks/mongo/batching.js';
import type { SinkContext } from '../../sinks/context.js';
import type { Sink, SinkBatch } from '../../sinks/sink.js';
import { batchOf, mongoPump, neverAborted, startMongo, type MongoTestServer } from '../harness/mongo.js';
import { median } from '../harness/process-stats.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH = 1000;
/** Writes in flight at once, as SinkRunner's writeConcurrency. */
const CONCURRENCY = 2;

const log = (line: string) => process.stderr.write(`[bench:mongo] ${line}\n`);

/** Runs `work` over every item, `CONCURRENCY` at a time, in order of start. */
async function inFlight<T>(items: readonly T[], work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

function databaseUrl(server: MongoTestServer, database: string): string {
  const url = new URL(server.url);
  url.pathname = `/${database}`;
  return url.toString();
}

const ctx: SinkContext = {
  logger: pino({ level: 'warn' }, process.stderr),
  config: {} as PumpConfiguration,
};

async function timeSink(sink: Sink<AnalyticsRecord>, batches: ReadonlyArray<SinkBatch<AnalyticsRecord>>): Promise<number> {
  await sink.open(neverAborted);
  try {
    const started = performance.now();
    await inFlight(batches, (batch) => sink.write(batch, neverAborted));
    return (performance.now() - started) / 1000;
  } finally {
    await sink.close();
  }
}

async function main(): Promise<void> {
  // The harness announces its server with console.log; stdout is for the result alone.
  console.log = (...args: unknown[]) => console.error(...args);
  log(`generating ${RECORDS} records`);
  const traffic = analyticsTraffic({ days: 1 / 24, now: new Date(Date.UTC(2024, 4, 10, 12)), seed: 3 });
  const raw = Array.from({ length: RECORDS }, () => encodeAnalyticsMsgpack(traffic.next().value));
  const batches: Array<SinkBatch<AnalyticsRecord>> = [];
  for (let start = 0; start < RECORDS; start += BATCH) {
    const bytes = raw.slice(start, start + BATCH);
    batches.push(batchOf(bytes.map((b) => decodeAnalyticsMsgpack(b)), bytes));
  }
  const ceilingDocs: Document[][] = batches.map((b) => rawAnalyticsDocuments(b.records, DEFAULT_MAX_BYTES).map((d) => d.item.doc));
  const documents = ceilingDocs.reduce((n, d) => n + d.length, 0);

  const server = await startMongo('bench');
  const runs: Array<{ ceiling: number; mongo: number; aggregate: number }> = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const tag = `${server.database}_r${i}`;

      const ceilingDb = server.client.db(`${tag}_ceiling`);
      // Created before timing, as the sinks' open() prepares theirs (CongoDB also loses inserts that race to create it).
      const collection = await ceilingDb.createCollection('tyk_analytics');
      const started = performance.now();
      await inFlight(ceilingDocs, async (docs) => {
        await collection.insertMany(docs, { ordered: false });
      });
      const ceiling = RECORDS / ((performance.now() - started) / 1000);
      const held = await collection.countDocuments();
      // Counted, not taken from insertedCount: CongoDB's replies undercount some unordered inserts.
      if (held !== documents) throw new Error(`insertMany: the collection holds ${held} of ${documents}`);
      await ceilingDb.dropDatabase();

      const rawDb = `${tag}_raw`;
      const rawSink = createMongoSink(mongoPump('mongo', { mongo_url: databaseUrl(server, rawDb), collection_name: 'tyk_analytics' }), ctx);
      const mongoSeconds = await timeSink(rawSink, batches);
      const stored = await server.client.db(rawDb).collection('tyk_analytics').countDocuments();
      if (stored !== documents) throw new Error(`mongo sink: the collection holds ${stored} of ${documents}`);
      await server.client.db(rawDb).dropDatabase();

      const aggDb = `${tag}_agg`;
      const aggSink = createMongoAggregateSink(mongoPump('mongo-pump-aggregate', { mongo_url: databaseUrl(server, aggDb) }), ctx);
      const aggregateSeconds = await timeSink(aggSink, batches);
      await server.client.db(aggDb).dropDatabase();

      const run = { ceiling, mongo: RECORDS / mongoSeconds, aggregate: RECORDS / aggregateSeconds };
      runs.push(run);
      log(`run ${i + 1}/${RUNS}: insertMany ${run.ceiling.toFixed(0)}/s, mongo ${run.mongo.toFixed(0)}/s (${(run.mongo / run.ceiling).toFixed(3)}), `
        + `mongo-pump-aggregate ${run.aggregate.toFixed(0)}/s (${(run.aggregate / run.ceiling).toFixed(3)})`);
    }
  } finally {
    await server.stop();
  }
  const result = {
    benchmark: 'mongo-sinks',
    server: server.real ? 'MongoDB (MONGO_URL)' : 'CongoDB (in-process, memory storage)',
    records: RECORDS,
    documents_per_run: documents,
    batch_records: BATCH,
    writes_in_flight: CONCURRENCY,
    runs: RUNS,
    median_records_per_second: {
      mongo: Math.round(median(runs.map((r) => r.mongo))),
      mongo_pump_aggregate: Math.round(median(runs.map((r) => r.aggregate))),
      insert_many_ceiling: Math.round(median(runs.map((r) => r.ceiling))),
    },
    median_ratio_mongo_to_insert_many: Number(median(runs.map((r) => r.mongo / r.ceiling)).toFixed(3)),
    median_ratio_mongo_aggregate_to_insert_many: Number(median(runs.map((r) => r.aggregate / r.ceiling)).toFixed(3)),
    method: 'in-process sinks, batches of 1,000 built like the pipeline builds them (untimed), open() untimed, 2 writes in flight; '
      + 'ceiling: unordered insertMany of the documents the mongo sink inserts, prebuilt; each phase into a fresh database; '
      + 'rates in input records/s; the aggregate ratio compares upserting aggregates to inserting one document per record',
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
