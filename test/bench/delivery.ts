/*
 * `npm run bench:delivery`: two measurements of the delivery machinery.
 *
 * (a) backlog_memory — peak RSS (/proc/<pid>/status VmHWM) of a `sluice` process draining a backlog of
 *     BENCH_BACKLOG records (default 300000; the full-size check is BENCH_BACKLOG=1000000) into a `sql`
 *     pump whose PostgreSQL sits behind a rate-limiting TCP proxy in this process. Sluice has no throttle
 *     of its own, so the sink is slowed on the wire: the proxy passes client→server bytes at
 *     BENCH_SINK_RATE (default 5000) × the mean bytes one record takes on the wire (its COPY line plus the
 *     CopyData header), shared by every connection. The rate the drain actually achieved is reported.
 *
 * (b) retry_machinery — steady-state records/s with the BullMQ retry machinery present vs absent. There is
 *     no switch in the product to turn BullMQ off, but the pipeline itself takes `retry: null` for a route
 *     (no durable retry queue: no BullMQ Queue or Worker, no backlog polling, no escalation). So the
 *     pipeline is assembled in this process exactly as src/worker.ts assembles it (same settings from the
 *     loaded config, same SinkRunner options), once with the route's RetryQueue (the normal path, where
 *     retries never trigger because the sink never fails) and once with `retry: null`, alternating, over the
 *     same elements. Steady state is the write rate between 10 % and 90 % of the records written. It runs
 *     with the real `sql` sink (fresh database per run) and with a sink that discards batches, which leaves
 *     nothing but claim, decode, acknowledge and the retry machinery to measure.
 *
 * Each part uses its own key prefix and a pump name of its own (BullMQ queues are named after the pump and
 * live under one `{sluice}` prefix shared by every process on this Redis).
 *
 * Prints one JSON object. Environment: BENCH_BACKLOG (300000), BENCH_SINK_RATE (5000), BENCH_RECORDS
 * (200000, part b), BENCH_RUNS (3, part b), BENCH_RETRY_SINKS ("sql,discard"), BENCH_PARTS ("memory,retry").
 */
import { proxyPostgres } from '../harness/tcp-proxy.js';
import { Redis } from 'ioredis';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsTraffic } from '../../src/demo/traffic.js';
import { decodeAnalyticsMsgpack } from '../../src/decode/msgpack.js';
import { analyticsKeys, analyticsPrefix } from '../../src/source/source-keys.js';
import { ClaimStore } from '../../src/source/claim-store.js';
import { createRedisClient } from '../../src/source/redis-connection.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { DeadLetters } from '../../src/delivery/dead-letters.js';
import { SinkRunner } from '../../src/delivery/sink-runner.js';
import { RETRY_QUEUE_PREFIX, RetryQueue, retryQueueName } from '../../src/delivery/retry-queue.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { processForPump } from '../../src/pipeline/process.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { createAnalyticsSink } from '../../sinks/registry.js';
import type { Sink, SinkBatch, SinkHealth, SinkRecord, WriteOutcome } from '../../sinks/sink.js';
import { CopyRowsWriter } from '../../sinks/postgres/copy-rows.js';
import { freshDatabase } from '../harness/postgres.js';
import { REDIS_URL, deleteMatching, msgpackKeys, uniquePrefix, pushRoundRobin, drained } from '../harness/redis.js';
import { freePort, startSluice, writeConfig } from '../harness/sluice.js';
import { median, procStatusMb } from '../harness/process-stats.js';
import { pipelineSettings, sinkRunnerOptions } from '../../src/worker.js';

const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 300_000);
const SINK_RATE = Number(process.env.BENCH_SINK_RATE ?? 5000);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RETRY_SINKS = (process.env.BENCH_RETRY_SINKS ?? 'sql,discard').split(',').filter(Boolean) as Array<'sql' | 'discard'>;
const PARTS = (process.env.BENCH_PARTS ?? 'memory,retry').split(',');
const CHUNK = 1000;
/** PostgreSQL's CopyData message header, sent with each row. */
const COPY_DATA_HEADER = 5;

const log = (line: string) => process.stderr.write(`[bench:delivery] ${line}\n`);
const redisUrl = new URL(REDIS_URL);
const storage = () => ({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });

function makeElements(count: number, seed: number): Buffer[] {
  const traffic = analyticsTraffic({ days: 1 / 24, now: new Date(Date.UTC(2024, 4, 10, 12)), seed });
  return Array.from({ length: count }, () => encodeAnalyticsMsgpack(traffic.next().value));
}



// ---------------------------------------------------------------------------------------------------------
// (a) peak RSS while a backlog drains into a throttled sink

async function backlogMemory(redis: Redis) {
  log(`(a) generating a backlog of ${BACKLOG} records`);
  const elements = makeElements(BACKLOG, 1);
  const sample = elements.slice(0, 5000);
  const rows = new CopyRowsWriter('tyk_analytics');
  sample.forEach((e, i) => rows.add(String(i), decodeAnalyticsMsgpack(e)));
  const wireBytes = rows.finish().tuples.length / sample.length + COPY_DATA_HEADER;
  const bytesPerSecond = Math.round(SINK_RATE * wireBytes);
  const db = await freshDatabase('bench_backlog');
  const { proxy, url: throttledUrl } = await proxyPostgres(db.url, { bytesPerSecond });
  const prefix = uniquePrefix('bench-backlog');
  const keys = msgpackKeys(prefix);
  const pumpName = `bench_backlog_${process.pid}`;
  try {
    log(`(a) pushing ${BACKLOG} elements (${Math.round(elements.reduce((n, e) => n + e.length, 0) / 1048576)} MB) into ${keys.length} lists`);
    await pushRoundRobin(redis, keys, elements);
    const config = writeConfig({
      analytics_storage_config: { ...storage(), key_prefix: prefix },
      purge_delay: 0.2, purge_chunk: CHUNK, dont_purge_uptime_data: true, health_check_endpoint_port: await freePort(),
      log_level: 'warn',
      pumps: { [pumpName]: { type: 'sql', meta: { type: 'postgres', connection_string: throttledUrl } } },
      sluice: { dead_letter_key: `${prefix}dead-letters` },
    });
    log(`(a) sink throttled to ${bytesPerSecond} B/s (${SINK_RATE} records/s × ${wireBytes.toFixed(0)} B)`);
    const started = performance.now();
    const sluice = startSluice(['--conf', config]);
    let exited: number | null | undefined;
    void sluice.exited.then((code) => (exited = code));
    const pid = sluice.proc.pid!;
    let peak = 0;
    let maxRss = 0;
    let seconds: number;
    let lastReport = started;
    try {
      for (;;) {
        if (exited !== undefined) throw new Error(`sluice exited (${exited}):\n${sluice.output.slice(-20).join('\n')}`);
        peak = Math.max(peak, procStatusMb(pid, 'VmHWM'));
        maxRss = Math.max(maxRss, procStatusMb(pid, 'VmRSS'));
        if (await drained(redis, keys)) break;
        if (performance.now() - lastReport > 15_000) {
          lastReport = performance.now();
          const left = (await Promise.all(keys.map((k) => redis.llen(k)))).reduce((a, b) => a + b, 0);
          log(`(a) ${((lastReport - started) / 1000).toFixed(0)} s: ${left} left in the lists, peak RSS ${peak.toFixed(0)} MB`);
        }
        if (performance.now() - started > 3_600_000) throw new Error('the backlog did not drain within an hour');
        await new Promise((r) => setTimeout(r, 250));
      }
      seconds = (performance.now() - started) / 1000;
      peak = Math.max(peak, procStatusMb(pid, 'VmHWM'));
    } finally {
      sluice.kill('SIGTERM');
      await sluice.exited;
    }
    const rows = (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0]!.n;
    if (rows !== BACKLOG) throw new Error(`(a) tyk_analytics holds ${rows} rows, expected ${BACKLOG}`);
    return {
      backlog_records: BACKLOG,
      full_size_backlog: 1_000_000,
      ran_full_size: BACKLOG >= 1_000_000,
      mean_element_bytes: Math.round(elements.reduce((n, e) => n + e.length, 0) / elements.length),
      sink_throttle: { target_records_per_second: SINK_RATE, wire_bytes_per_record: Math.round(wireBytes), bytes_per_second: bytesPerSecond },
      achieved_records_per_second: Math.round(BACKLOG / seconds),
      seconds: Number(seconds.toFixed(1)),
      peak_rss_mb: Math.round(peak),
      max_sampled_rss_mb: Math.round(maxRss),
      node_max_old_space_mb: 160,
      target_peak_rss_mb: 256,
    };
  } finally {
    await proxy.close();
    await redis.del(`${prefix}dead-letters`);
    await db.drop();
  }
}

// ---------------------------------------------------------------------------------------------------------
// (b) the BullMQ retry machinery: present (normal path, never triggered) vs `retry: null`

/** A sink that keeps nothing: the pipeline's own work is all that is left to measure. */
class DiscardSink implements Sink<AnalyticsRecord> {
  constructor(readonly name: string) {}
  async open(): Promise<void> {}
  async write(batch: SinkBatch<AnalyticsRecord>): Promise<WriteOutcome> {
    return { written: batch.records.length, alreadyApplied: false, rejected: [] };
  }
  async close(): Promise<void> {}
  async health(): Promise<SinkHealth> {
    return { ok: true };
  }
}

/** Passes every call through and notes when each write finished and how many records were written by then. */
class CountingSink implements Sink<unknown> {
  readonly name: string;
  written = 0;
  readonly marks: Array<[ms: number, written: number]> = [];
  constructor(private readonly inner: Sink<unknown>) {
    this.name = inner.name;
  }
  open(signal: AbortSignal): Promise<void> {
    return this.inner.open(signal);
  }
  async write(batch: SinkBatch<unknown>, signal: AbortSignal): Promise<WriteOutcome> {
    const outcome = await this.inner.write(batch, signal);
    this.written += outcome.written;
    this.marks.push([performance.now(), this.written]);
    return outcome;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  health(): Promise<SinkHealth> {
    return this.inner.health();
  }
}

/** Records/s between the writes that crossed 10 % and 90 % of `total`. */
function steadyRate(marks: ReadonlyArray<[number, number]>, total: number): number {
  const from = marks.find(([, n]) => n >= total * 0.1)!;
  const to = marks.find(([, n]) => n >= total * 0.9)!;
  return (to[1] - from[1]) / ((to[0] - from[0]) / 1000);
}

type RetryMode = 'bullmq' | 'none';

async function retryRun(redis: Redis, elements: readonly Buffer[], sinkKind: 'sql' | 'discard', mode: RetryMode): Promise<{ steady: number; overall: number }> {
  const db = sinkKind === 'sql' ? await freshDatabase('bench_retry') : undefined;
  const prefix = uniquePrefix('bench-retry');
  const pumpKey = `bench_retry_${process.pid}_${sinkKind}`;
  const logger = createLogger({ level: 'warn', destination: process.stderr });
  const { config } = loadConfig({
    env: {},
    path: writeConfig({
      analytics_storage_config: { ...storage(), key_prefix: prefix },
      purge_delay: 0.2, purge_chunk: CHUNK, dont_purge_uptime_data: true, health_check_endpoint_port: 0,
      pumps: { [pumpKey]: { type: 'sql', meta: { type: 'postgres', connection_string: db?.url ?? 'postgres://unused/unused' } } },
      sluice: { dead_letter_key: `${prefix}dead-letters` },
    }),
  });
  const keys = analyticsKeys(analyticsPrefix(config.analytics_storage_config));
  await pushRoundRobin(redis, msgpackKeys(prefix), elements);
  // As src/worker.ts assembles a worker, with the one difference under test: the route's retry queue.
  const s = config.sluice;
  const pump = config.pumps[0]!;
  const metrics = new Metrics();
  const claimsRedis = createRedisClient(config.analytics_storage_config, { name: `bench-retry:${process.pid}` });
  const queueConnection = createRedisClient(config.analytics_storage_config, { name: `bench-retry:${process.pid}:retry`, blocking: true });
  const leaseMs = Math.round(s.lease_seconds * 1000);
  const inner = sinkKind === 'sql' ? await createAnalyticsSink(pump, { logger, config, metrics }) : new DiscardSink(pump.name);
  const sink = new CountingSink(inner as Sink<unknown>);
  const runner = new SinkRunner(sink, sinkRunnerOptions(config, logger, metrics, pump.timeout));
  const pipeline = new Pipeline({
    claims: new ClaimStore(claimsRedis, `bench-retry-${process.pid}`, leaseMs),
    deadLetters: new DeadLetters(claimsRedis, s.dead_letter_key),
    analyticsKeys: keys,
    uptimeKey: null,
    encodePool: null,
    analytics: [{
      runner,
      retry: mode === 'bullmq' ? new RetryQueue(queueConnection, pump.name, s.retry) : null,
      prepare: (record) => processForPump(record as SinkRecord<AnalyticsRecord>, {
        pump, globalMaxRecordSize: config.max_record_size, globalOmitDetailedRecording: config.omit_detailed_recording,
      }),
    }],
    uptime: [],
    settings: pipelineSettings(config),
    logger,
    metrics,
  });
  const names = msgpackKeys(prefix);
  try {
    const started = performance.now();
    pipeline.start(queueConnection);
    for (;;) {
      if (sink.written >= elements.length && (await drained(redis, names))) break;
      if (performance.now() - started > 900_000) throw new Error(`${sinkKind}/${mode}: not drained within 15 minutes`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const overall = elements.length / ((performance.now() - started) / 1000);
    if (sink.written !== elements.length) throw new Error(`${sinkKind}/${mode}: ${sink.written} written, expected ${elements.length}`);
    return { steady: steadyRate(sink.marks, elements.length), overall };
  } finally {
    await pipeline.stop(10_000);
    await Promise.all([claimsRedis, queueConnection].map((c) => c.quit().catch(() => c.disconnect())));
    await redis.del(`${prefix}dead-letters`);
    await deleteMatching(redis, `${RETRY_QUEUE_PREFIX}:${retryQueueName(pump.name)}:*`);
    await db?.drop();
  }
}

async function retryMachinery(redis: Redis) {
  log(`(b) generating ${RECORDS} records`);
  const elements = makeElements(RECORDS, 2);
  const out: Record<string, unknown> = {};
  for (const sinkKind of RETRY_SINKS) {
    const runs: Array<Record<RetryMode, { steady: number; overall: number }>> = [];
    for (let i = 0; i < RUNS; i++) {
      const order: RetryMode[] = i % 2 === 0 ? ['bullmq', 'none'] : ['none', 'bullmq'];
      const run = {} as Record<RetryMode, { steady: number; overall: number }>;
      for (const mode of order) run[mode] = await retryRun(redis, elements, sinkKind, mode);
      runs.push(run);
      log(`(b) ${sinkKind} run ${i + 1}/${RUNS}: steady with BullMQ ${run.bullmq.steady.toFixed(0)}/s, without ${run.none.steady.toFixed(0)}/s, ratio ${(run.bullmq.steady / run.none.steady).toFixed(3)}`);
    }
    out[sinkKind] = {
      median_steady_records_per_second: {
        with_bullmq_retry_queue: Math.round(median(runs.map((r) => r.bullmq.steady))),
        without_retry_queue: Math.round(median(runs.map((r) => r.none.steady))),
      },
      median_overall_records_per_second: {
        with_bullmq_retry_queue: Math.round(median(runs.map((r) => r.bullmq.overall))),
        without_retry_queue: Math.round(median(runs.map((r) => r.none.overall))),
      },
      median_ratio_with_to_without: Number(median(runs.map((r) => r.bullmq.steady / r.none.steady)).toFixed(3)),
      ratios: runs.map((r) => Number((r.bullmq.steady / r.none.steady).toFixed(3))),
    };
  }
  return {
    records: RECORDS,
    runs: RUNS,
    method: 'In-process pipeline assembled as src/worker.ts does (settings from the loaded config), run alternately with the '
      + 'route\'s BullMQ RetryQueue (Queue + Worker on a blocking connection, backlog polled every second; the sink never fails, '
      + 'so no retry is ever queued: the normal path) and with retry: null (the pipeline\'s own no-durable-queue mode, which '
      + 'needs no product change). Steady state: records written between 10 % and 90 % of the total, over that time. '
      + '"sql": the real sql sink into a fresh database; "discard": a sink that keeps nothing, so only claim/decode/ack and '
      + 'the retry machinery are measured. The cost of the retry path when it does trigger is not measured here.',
    ...out,
    target_ratio_with_to_without: 0.95,
  };
}

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const result: Record<string, unknown> = { benchmark: 'delivery' };
  try {
    if (PARTS.includes('memory')) result.backlog_memory = await backlogMemory(redis);
    if (PARTS.includes('retry')) result.retry_machinery = await retryMachinery(redis);
  } finally {
    await redis.quit();
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
