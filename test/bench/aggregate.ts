/*
 * `npm run bench:aggregate`: the `sql_aggregate` pump end to end against a drain+decode ceiling measured in
 * the same run on the same machine, hourly and per minute (`store_analytics_per_minute`).
 *
 *   drain_decode  in this process, no sink: ClaimStore.claim (the same Lua claim script Sluice runs) of
 *                 purge_chunk elements, prepareBatch for no sink (whole records decoded, as for a pump that
 *                 stores them; Sluice's aggregate-only batches decode only what aggregation reads),
 *                 ClaimStore.ack; one loop per gateway list, all at once, on this one thread; run before
 *                 and after each sluice run and counted as one (bracketedRate), as the `sql` benchmark
 *                 counts its `\copy`s: this machine's speed drifts within minutes
 *   sluice        gateway lists → a `sluice` process (spawned from dist) → tyk_aggregated. The process is
 *                 started on empty lists and timed from when the records appear on them (staged lists
 *                 renamed in) until every list and in-flight list of the run's prefix is empty (a batch is
 *                 acknowledged only once its upsert transaction committed); the rate from the spawn, start-up
 *                 included, is reported beside it. Sluice decodes in its encode threads (by default one fewer
 *                 than the CPUs), the ceiling on one: BENCH_SLUICE='{"encode_threads":0}' compares like with
 *                 like.
 *
 * Records come from the demo traffic generator (src/demo/traffic.ts), encoded as a gateway encodes them,
 * spread over BENCH_SPAN_HOURS (a backlog is recent traffic) and, by default, in time order, as a gateway
 * pushes them: a claim of 1,000 from one list then spans minutes, not the whole span. BENCH_ORDER=shuffled
 * keeps the generator's random order instead, the worst case for per-minute buckets (every batch touches
 * every minute of the span, about 5 rows per record). Each sluice run gets a fresh database and a key prefix
 * of its own; at the end the apiid rows' hits are checked against the aggregatable records.
 *
 * Beside the rates, Sluice's CPU per record over the drain (all its threads, from /proc), and PostgreSQL's
 * (the run database's server processes): how much work the upserts cost the database, which folding the
 * batches of a backlog into fewer upserts reduces.
 *
 * Prints one JSON object. Environment: BENCH_RECORDS (default 200000), BENCH_RUNS (default 3),
 * BENCH_SPAN_HOURS (default 1), BENCH_ORDER (`time` or `shuffled`, default time), BENCH_SLUICE (JSON of `sluice` settings for the measured process), BENCH_MODES
 * (`hourly`, `per_minute` or both, comma-separated; default both). At about
 * 24,000 records/s hourly and 6,000 per minute on a 2-core machine, one run of both modes takes about
 * 2 minutes; BENCH_RUNS=1 for a quick look.
 */
import { Redis } from 'ioredis';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsTraffic } from '../../src/demo/traffic.js';
import { isAggregatable } from '../../src/aggregate/analytics.js';
import { ClaimStore } from '../../src/source/claim-store.js';
import { prepareBatch } from '../../src/pipeline/prepare-batch.js';
import { freshDatabase } from '../harness/postgres.js';
import { REDIS_URL, deleteMatching, msgpackKeys, uniquePrefix, pushRoundRobin, drained, releaseStaged, retryQueueKeys, stageRoundRobin } from '../harness/redis.js';
import { exitStatus, freePort, recentLog, startSluice, untilReady, writeConfig } from '../harness/sluice.js';
import { DRAIN_POLL_MS, DatabaseCpu, bracketedRate, cpuSeconds, median, procStatusMb } from '../harness/process-stats.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SPAN_HOURS = Number(process.env.BENCH_SPAN_HOURS ?? 1);
const ORDER = process.env.BENCH_ORDER ?? 'time';
if (ORDER !== 'time' && ORDER !== 'shuffled') throw new Error(`BENCH_ORDER: expected "time" or "shuffled", got "${ORDER}"`);
/** `sluice` settings for the measured process (JSON), e.g. '{"encode_threads":1}'; Sluice's defaults otherwise. */
const SLUICE_SETTINGS = process.env.BENCH_SLUICE ? (JSON.parse(process.env.BENCH_SLUICE) as Record<string, unknown>) : {};
/** Sluice's claim size in these runs (`purge_chunk`), and the ceiling's. */
const CHUNK = 1000;
const ALL_MODES = ['hourly', 'per_minute'] as const;
type Mode = (typeof ALL_MODES)[number];
const MODES = ALL_MODES.filter((m) => (process.env.BENCH_MODES ?? ALL_MODES.join(',')).split(',').includes(m));

const log = (line: string) => process.stderr.write(`[bench:aggregate] ${line}\n`);


interface Workload {
  elements: Buffer[];
  /** Records that count as hits (aggregatable, with an API, not network-only): the apiid rows' hits sum to this. */
  aggregatable: number;
  bytes: number;
}

function makeWorkload(): Workload {
  const traffic = analyticsTraffic({ days: SPAN_HOURS / 24, now: new Date(Date.UTC(2024, 4, 10, 12)), seed: 20240510 });
  const records = Array.from({ length: RECORDS }, () => traffic.next().value);
  if (ORDER === 'time') records.sort((a, b) => a.timestamp.sec - b.timestamp.sec || a.timestamp.nsec - b.timestamp.nsec);
  const elements: Buffer[] = [];
  let aggregatable = 0;
  let bytes = 0;
  for (const record of records) {
    if (isAggregatable(record) && record.api_id !== '' && record.response_code !== -1) aggregatable++;
    const element = encodeAnalyticsMsgpack(record);
    bytes += element.length;
    elements.push(element);
  }
  return { elements, aggregatable, bytes };
}



async function drainDecodeCeiling(redis: Redis, elements: readonly Buffer[]): Promise<number> {
  const prefix = uniquePrefix('bench-drain');
  const keys = msgpackKeys(prefix);
  await pushRoundRobin(redis, keys, elements);
  const claims = new ClaimStore(redis, `bench-drain-${process.pid}`, 30_000);
  let decoded = 0;
  const started = performance.now();
  await Promise.all(keys.map(async (key) => {
    for (;;) {
      const batch = await claims.claim(key, CHUNK);
      if (!batch) return;
      decoded += prepareBatch(batch.elements, 'msgpack', key, []).decoded;
      await claims.ack(batch);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  if (decoded !== elements.length) throw new Error(`drain+decode decoded ${decoded} of ${elements.length}`);
  return elements.length / seconds;
}

interface SluiceRun {
  rps: number;
  rpsWithStartup: number;
  peakRssMb: number;
  /** Sluice's CPU (every thread) from the release of the records to the drain, per record. */
  cpuUsPerRecord: number;
  /** The same for the database's server processes. */
  pgCpuUsPerRecord: number;
  /** Rows inserted or updated in tyk_aggregated per record: what folding saves the database. */
  upsertedRowsPerRecord: number;
}

async function sluiceRun(redis: Redis, work: Workload, mode: Mode): Promise<SluiceRun> {
  const db = await freshDatabase('bench_agg');
  const prefix = uniquePrefix('bench-agg');
  const keys = msgpackKeys(prefix);
  const redisUrl = new URL(REDIS_URL);
  try {
    await stageRoundRobin(redis, keys, work.elements);
    const port = await freePort();
    const config = writeConfig({
      analytics_storage_config: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379), key_prefix: prefix },
      purge_delay: 0.2, purge_chunk: CHUNK, dont_purge_uptime_data: true, health_check_endpoint_port: port,
      log_level: 'warn',
      // A pump name of its own: its BullMQ retry queue is `retry-<name>`, shared by every process on this Redis.
      pumps: {
        [`bench_agg_${process.pid}`]: {
          type: 'sql_aggregate',
          meta: { type: 'postgres', connection_string: db.url, store_analytics_per_minute: mode === 'per_minute' },
        },
      },
      sluice: { dead_letter_key: `${prefix}dead-letters`, ...SLUICE_SETTINGS },
    });
    const spawned = performance.now();
    const sluice = startSluice(['--conf', config]);
    let peak = 0;
    let released = 0;
    let done = 0;
    let cpuAtRelease = 0;
    let cpu = 0;
    const pgCpu = new DatabaseCpu(db.pool);
    try {
      await untilReady(sluice, port);
      await pgCpu.start();
      released = performance.now();
      cpuAtRelease = cpuSeconds(sluice.proc.pid!);
      await releaseStaged(redis, keys);
      for (;;) {
        const status = exitStatus(sluice);
        if (status) throw new Error(`sluice ended (${status}) before draining:\n${recentLog(sluice)}`);
        peak = Math.max(peak, procStatusMb(sluice.proc.pid!, 'VmHWM'));
        await pgCpu.sample();
        if (await drained(redis, keys)) break;
        if (performance.now() - released > 900_000) throw new Error('sluice did not drain within 15 minutes');
        await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
      }
      done = performance.now();
      cpu = cpuSeconds(sluice.proc.pid!) - cpuAtRelease;
      peak = Math.max(peak, procStatusMb(sluice.proc.pid!, 'VmHWM'));
    } finally {
      sluice.kill('SIGTERM');
      await sluice.exited;
    }
    const { rows } = await db.pool.query<{ hits: string | null }>(`SELECT sum(counter_hits)::text AS hits FROM tyk_aggregated WHERE dimension = 'apiid'`);
    const hits = Number(rows[0]?.hits ?? 0);
    if (hits !== work.aggregatable) throw new Error(`${mode}: apiid hits ${hits}, expected ${work.aggregatable}`);
    // Sluice's backends have exited with it, so their statistics are flushed.
    const upserted = await db.pool.query<{ n: string }>(
      `SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0)::text AS n FROM pg_stat_user_tables WHERE relname = 'tyk_aggregated'`,
    );
    const warnings = sluice.output.filter((l) => /"level":(40|50|60)/.test(l));
    if (warnings.length > 0) log(`${mode}: sluice logged ${warnings.length} warnings/errors, first: ${warnings[0]}`);
    const n = work.elements.length;
    return {
      rps: n / ((done - released) / 1000), rpsWithStartup: n / ((done - spawned) / 1000), peakRssMb: peak,
      cpuUsPerRecord: (cpu * 1e6) / n, pgCpuUsPerRecord: (pgCpu.seconds * 1e6) / n, upsertedRowsPerRecord: Number(upserted.rows[0]!.n) / n,
    };
  } finally {
    await redis.del(`${prefix}dead-letters`);
    await deleteMatching(redis, retryQueueKeys(prefix));
    await db.drop();
  }
}

async function main(): Promise<void> {
  log(`generating ${RECORDS} records over ${SPAN_HOURS} h`);
  const work = makeWorkload();
  const redis = new Redis(REDIS_URL);
  const runs: Record<Mode, Array<{ drain: number; before: number; after: number; sluice: number; withStartup: number; rss: number; cpuUs: number; pgCpuUs: number; upserted: number }>> = { hourly: [], per_minute: [] };
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const mode of MODES) {
        const before = await drainDecodeCeiling(redis, work.elements);
        const s = await sluiceRun(redis, work, mode);
        const after = await drainDecodeCeiling(redis, work.elements);
        const drain = bracketedRate(before, after);
        runs[mode].push({ drain, before, after, sluice: s.rps, withStartup: s.rpsWithStartup, rss: s.peakRssMb, cpuUs: s.cpuUsPerRecord, pgCpuUs: s.pgCpuUsPerRecord, upserted: s.upsertedRowsPerRecord });
        log(`run ${i + 1}/${RUNS} ${mode}: sluice ${s.rps.toFixed(0)}/s (${s.rpsWithStartup.toFixed(0)}/s with start-up), drain+decode ${drain.toFixed(0)}/s (${before.toFixed(0)} before, ${after.toFixed(0)} after), ratio ${(s.rps / drain).toFixed(3)}, peak RSS ${s.peakRssMb.toFixed(0)} MB, CPU per record ${s.cpuUsPerRecord.toFixed(1)} µs (PostgreSQL ${s.pgCpuUsPerRecord.toFixed(1)} µs), ${s.upsertedRowsPerRecord.toFixed(2)} rows upserted per record`);
      }
    }
  } finally {
    await redis.quit();
  }
  const summary = (mode: Mode) => {
    const r = runs[mode];
    return {
      median_records_per_second: {
        sluice: Math.round(median(r.map((x) => x.sluice))),
        sluice_including_startup: Math.round(median(r.map((x) => x.withStartup))),
        drain_decode_ceiling: Math.round(median(r.map((x) => x.drain))),
      },
      median_ratio_sluice_to_drain_decode: Number(median(r.map((x) => x.sluice / x.drain)).toFixed(3)),
      ratios: r.map((x) => Number((x.sluice / x.drain).toFixed(3))),
      drain_decode_before_after: r.map((x) => [Math.round(x.before), Math.round(x.after)]),
      peak_rss_mb: Math.round(Math.max(...r.map((x) => x.rss))),
      median_sluice_cpu_us_per_record: Number(median(r.map((x) => x.cpuUs)).toFixed(1)),
      median_postgres_cpu_us_per_record: Number(median(r.map((x) => x.pgCpuUs)).toFixed(1)),
      median_rows_upserted_per_record: Number(median(r.map((x) => x.upserted)).toFixed(3)),
    };
  };
  const result = {
    benchmark: 'redis-to-sql_aggregate',
    records: RECORDS,
    mean_record_bytes: Math.round(work.bytes / RECORDS),
    span_hours: SPAN_HOURS,
    order: ORDER,
    hit_records: work.aggregatable,
    purge_chunk: CHUNK,
    runs: RUNS,
    ...Object.fromEntries(MODES.map((mode) => [mode, summary(mode)])),
    sluice_settings: Object.keys(SLUICE_SETTINGS).length > 0 ? SLUICE_SETTINGS : 'defaults',
    method: 'sluice: spawned process, ready (/ready 200) on empty lists, timed from the records appearing on them (staged lists '
      + 'renamed in, one MULTI) until every list and in-flight list is empty (acked after commit); also from spawn, start-up included; '
      + 'drain_decode: in-process ClaimStore.claim + prepareBatch (decode only) + ClaimStore.ack over the same elements, one loop per list, '
      + 'before and after each sluice run, counted as the rate of their mean time; '
      + 'apiid rows\' hits verified equal to the request records (network-only records carry no hits) after every sluice run',
    targets: { ratio_sluice_to_drain_decode: 0.7 },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
