/*
 * `npm run bench:scaling`: how Sluice scales with worker processes, and what each gateway encoding costs.
 *
 *   workers   records/s with 1, 2 and 3 sluice processes draining the same 22 analytics lists (msgpack and
 *             protobuf), on the shared standalone Redis and on a 3-master Cluster from the test harness;
 *             ratio = records/s over the 1-worker figure
 *   decode    records/s of the msgpack and protobuf decoders alone, over fixture-shaped ~1 KB records
 *
 * Prints one JSON object. Environment: BENCH_SCALING_RECORDS (default 30000), BENCH_DECODE_RECORDS (default 20000).
 */
import { Redis, type Cluster } from 'ioredis';
import { decoders } from '../../src/decode/index.js';
import { createRedisClient, waitUntilReady } from '../../src/source/redis-connection.js';
import type { StorageConfig } from '../../src/config/types.js';
import { freshDatabase } from '../harness/postgres.js';
import { startCluster, storageConfig } from '../harness/redis-servers.js';
import { uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, type SluiceProcess } from '../harness/sluice.js';
import { gatewayTraffic, pushTraffic, rowsByPath, total } from '../harness/gateway-traffic.js';
import { BASE_RECORD } from '../harness/records.js';
import { encodeAnalyticsMsgpack, encodeAnalyticsProtobuf } from '../../src/demo/gateway-encoding.js';

const RECORDS = Number(process.env.BENCH_SCALING_RECORDS ?? 30_000);
const DECODE_RECORDS = Number(process.env.BENCH_DECODE_RECORDS ?? 20_000);
const WORKER_COUNTS = [1, 2, 3];

type WorkerFigures = Record<string, { records_per_second: number; ratio_to_1_worker: number }>;

/** Drains RECORDS records with `workers` processes; records/s from the first start to the last row. */
async function drain(redis: Redis | Cluster, storage: StorageConfig, workers: number): Promise<number> {
  const db = await freshDatabase('bench_scaling');
  const label = `scale${workers}`;
  try {
    const traffic = gatewayTraffic(storage.key_prefix, label, { analytics: RECORDS });
    await pushTraffic(redis, traffic.byKey);
    const started = performance.now();
    const processes: SluiceProcess[] = [];
    for (let i = 0; i < workers; i++) {
      const config = sqlPumpConfig({
        prefix: storage.key_prefix, pgUrl: db.url, port: await freePort(),
        extra: { analytics_storage_config: storage, purge_chunk: 1000, log_level: 'warn' },
      });
      processes.push(startSluice(['--conf', writeConfig(config)]));
    }
    try {
      await waitFor(async () => total(await rowsByPath(db, label)) >= RECORDS, 600_000, `${workers} worker(s) to drain`);
    } finally {
      for (const p of processes) p.kill('SIGTERM');
      await Promise.all(processes.map((p) => p.exited));
    }
    return RECORDS / ((performance.now() - started) / 1000);
  } finally {
    await db.drop();
  }
}

async function scaling(redis: Redis | Cluster, storage: StorageConfig, where: string): Promise<WorkerFigures> {
  const figures: WorkerFigures = {};
  let single = 0;
  for (const workers of WORKER_COUNTS) {
    const rps = await drain(redis, storage, workers);
    single ||= rps;
    figures[`${workers}`] = { records_per_second: Math.round(rps), ratio_to_1_worker: Number((rps / single).toFixed(2)) };
    process.stderr.write(`${where}: ${workers} worker(s) ${Math.round(rps)} records/s\n`);
  }
  return figures;
}

async function onStandalone(): Promise<WorkerFigures> {
  const prefix = uniquePrefix('bench-scaling');
  const redis = new Redis('redis://127.0.0.1:6379');
  try {
    return await scaling(redis, storageConfig({ host: '127.0.0.1', port: 6379, key_prefix: prefix }), 'standalone');
  } finally {
    await redis.quit();
  }
}

async function onCluster(): Promise<WorkerFigures> {
  const cluster = await startCluster();
  const storage = storageConfig(cluster.storage);
  const client = createRedisClient(storage, { name: 'bench-gateway', onError: () => undefined });
  try {
    await waitUntilReady(client, storage, 10_000);
    return await scaling(client, storage, 'cluster');
  } finally {
    client.disconnect();
    await cluster.stop();
  }
}

/** Decodes every element `rounds` times; records/s over all rounds. */
function decodeRate(elements: Buffer[], decode: (bytes: Uint8Array) => unknown, rounds = 3): number {
  for (const e of elements.slice(0, 1000)) decode(e); // warm-up for the JIT
  const started = performance.now();
  for (let r = 0; r < rounds; r++) for (const e of elements) decode(e);
  return (elements.length * rounds) / ((performance.now() - started) / 1000);
}

/** ~1 KB records like the fixtures' REST record with a short request dump (as test/bench/run.ts uses). */
function decodeFigures(): Record<string, number> {
  const dump = Buffer.alloc(300, 'GET /pets HTTP/1.1\r\nHost: api.example\r\n').toString('base64');
  const records = Array.from({ length: DECODE_RECORDS }, (_, i) => ({
    ...BASE_RECORD, path: `/decode/${i}`, raw_path: `/decode/${i}`, raw_request: dump, api_key: `key-${i % 500}`,
  }));
  const msgpack = decodeRate(records.map(encodeAnalyticsMsgpack), decoders.msgpack);
  const protobuf = decodeRate(records.map(encodeAnalyticsProtobuf), decoders.protobuf);
  return {
    msgpack_records_per_second: Math.round(msgpack),
    protobuf_records_per_second: Math.round(protobuf),
    ratio_protobuf_to_msgpack: Number((protobuf / msgpack).toFixed(2)),
  };
}

async function main(): Promise<void> {
  const decode = decodeFigures();
  const standalone = await onStandalone();
  const cluster = await onCluster();
  const result = {
    benchmark: 'worker-scaling-and-decode',
    records_per_run: RECORDS,
    keys: '22 analytics lists, msgpack and protobuf alternating',
    workers: { standalone, cluster },
    decode: { records: DECODE_RECORDS, ...decode },
    note: 'workers share the machine with Redis and PostgreSQL; on few cores more processes mostly add contention',
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
