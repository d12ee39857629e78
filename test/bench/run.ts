/*
 * `npm run bench`: Sluice end to end against ceilings measured in the same run on the same machine,
 * because these machines are noisy — ratios and medians, not single times.
 *
 *   redis_lrange_ceiling  a bare LRANGE+LTRIM drain of the same elements (no decoding, no writing)
 *   psql_copy_ceiling     `psql \copy` of the same rows into a fresh table like the one Sluice writes
 *                         (Tyk's columns and the six indexes Sluice keeps on it), in COPY's default text
 *                         format: the ceiling the target is set against
 *   psql_copy_binary      the same in COPY's binary format, which Sluice writes: reported beside it
 *                         (both `\copy`s run before and after Sluice's run, and count as their mean)
 *   sluice                gateway lists → sluice process → tyk_analytics, until every row is committed;
 *                         timed from when the records appear on the lists of a running, ready Sluice (and,
 *                         reported beside it, from the process's spawn) until the lists and in-flight lists
 *                         are seen empty (polled every 50 ms); the graceful shutdown that follows is timed
 *                         on its own (median_shutdown_ms), not charged to the rate
 *
 * Beside the rates, CPU per record, figures that move less than a rate with whatever else the machine runs:
 * over Sluice's drain, Sluice's (all its threads, from /proc), its PostgreSQL backends' and Redis's
 * (`INFO cpu`); over the text `\copy`, psql's and its backend's.
 *
 * Prints one JSON object. Environment: BENCH_RECORDS (default 200000), BENCH_RUNS (default 3),
 * BENCH_SLUICE (JSON of `sluice` settings for the measured process).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { analyticsKeys } from '../../src/source/source-keys.js';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { decodeAnalyticsMsgpack } from '../../src/decode/msgpack.js';
import { COLUMN_DEFINITIONS, INDEXED_COLUMNS, quoteIdent } from '../../sinks/postgres/columns.js';
import { CopyRowsWriter, copyChunks } from '../../sinks/postgres/copy-rows.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import { freshDatabase } from '../harness/postgres.js';
import { freePort, startSluice, untilReady, waitFor, writeConfig } from '../harness/sluice.js';
import { deleteMatching, drained, pushRoundRobin, releaseStaged, retryQueueKeys, stageRoundRobin, uniquePrefix } from '../harness/redis.js';
import {
  DRAIN_POLL_MS, DatabaseCpu, bracketedRate, cpuSeconds, exitedChildrenCpuSeconds, median, procStatusMb, redisCpuSeconds, statCpuSeconds,
} from '../harness/process-stats.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** `sluice` settings for the measured process (JSON), e.g. '{"encode_threads":2}'; Sluice's defaults otherwise. */
const SLUICE_SETTINGS = process.env.BENCH_SLUICE ? (JSON.parse(process.env.BENCH_SLUICE) as Record<string, unknown>) : undefined;

/** ~1 KB records shaped like the fixtures: a REST record with a short base64 request dump. */
function makeElements(): Buffer[] {
  const base = analyticsMsgpackFixtures()[14]!.record;
  const dump = Buffer.alloc(300, 'GET /pets HTTP/1.1\r\nHost: api.example\r\n').toString('base64');
  return Array.from({ length: RECORDS }, (_, i) => encodeAnalyticsMsgpack({
    ...base, path: `/bench/${i}`, raw_path: `/bench/${i}`, raw_request: dump, raw_response: '', api_key: `key-${i % 500}`,
  }));
}


async function lrangeCeiling(redis: Redis, elements: Buffer[]): Promise<number> {
  const key = `bench-lrange-${process.pid}`;
  await pushRoundRobin(redis, [key], elements);
  const started = performance.now();
  let drained = 0;
  for (;;) {
    const [[, items]] = (await redis.multi().lrangeBuffer(key, 0, 999).ltrim(key, 1000, -1).exec()) as [[null, Buffer[]]];
    if (items.length === 0) break;
    drained += items.length;
  }
  const seconds = (performance.now() - started) / 1000;
  if (drained !== elements.length) throw new Error(`LRANGE drained ${drained}`);
  return elements.length / seconds;
}

/** A `psql \copy` load: records per second, and the CPU per record of psql and of its server backend. */
interface CopyLoad {
  rps: number;
  psqlCpuUs: number;
  postgresCpuUs: number;
}

interface CopyCeilings {
  /** `psql \copy` in COPY's default text format: the ceiling the target is set against. */
  text: CopyLoad;
  /** The same rows in COPY's binary format, the one Sluice writes. */
  binary: CopyLoad;
}

/** A fresh table like the one Sluice writes: Tyk's columns and the six indexes Sluice keeps on it. */
async function createAnalyticsTable(pool: pg.Pool, table: string, indexed: boolean): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
  await pool.query(`CREATE TABLE ${quoteIdent(table)} (${COLUMN_DEFINITIONS})`);
  if (!indexed) return;
  for (const column of INDEXED_COLUMNS) {
    await pool.query(`CREATE INDEX ${quoteIdent(`${table}_idx_${column}`)} ON ${quoteIdent(table)} (${quoteIdent(column)})`);
  }
}

/**
 * `psql \copy` of the same rows into a fresh table, in text and in binary. The rows are Sluice's encoding
 * of the elements, loaded once untimed; PostgreSQL then writes them out in both formats, so both ceilings
 * load the same values.
 */
async function copyCeilings(elements: Buffer[]): Promise<CopyCeilings> {
  const db = await freshDatabase('bench_copy');
  const psql = (command: string) => execFileSync('psql', [db.url, '-qc', command]);
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
    const files = { sluice: join(dir, 'rows.sluice'), text: join(dir, 'rows.txt'), binary: join(dir, 'rows.bin') };
    const rows = new CopyRowsWriter('staged');
    elements.forEach((e, i) => rows.add(String(i), decodeAnalyticsMsgpack(e)));
    writeFileSync(files.sluice, Buffer.concat(copyChunks(rows.finish())));
    await createAnalyticsTable(db.pool, 'staged', false);
    psql(`\\copy staged FROM '${files.sluice}' WITH (FORMAT binary)`);
    psql(`\\copy staged TO '${files.text}'`);
    psql(`\\copy staged TO '${files.binary}' WITH (FORMAT binary)`);
    const timed = async (file: string, options: string): Promise<CopyLoad> => {
      await createAnalyticsTable(db.pool, 'tyk_analytics', true);
      // The session prints its backend's /proc stat line around the load (two `cat`s: a few ms of ~3 s).
      const script = [
        'SELECT pg_backend_pid() AS backend \\gset',
        '\\setenv BACKEND :backend',
        '\\! cat /proc/$BACKEND/stat',
        `\\copy tyk_analytics FROM '${file}'${options}`,
        '\\! cat /proc/$BACKEND/stat',
      ].join('\n');
      const psqlCpuBefore = exitedChildrenCpuSeconds();
      const started = performance.now();
      const printed = execFileSync('psql', [db.url, '-qX', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { input: script, encoding: 'utf8' });
      const seconds = (performance.now() - started) / 1000;
      const [before, after] = printed.trim().split('\n').map(statCpuSeconds);
      const perRecord = (cpu: number) => (cpu * 1e6) / elements.length;
      return { rps: elements.length / seconds, psqlCpuUs: perRecord(exitedChildrenCpuSeconds() - psqlCpuBefore), postgresCpuUs: perRecord(after! - before!) };
    };
    return { text: await timed(files.text, ''), binary: await timed(files.binary, ' WITH (FORMAT binary)') };
  } finally {
    await db.drop();
  }
}


interface SluiceRun {
  /** Records per second from the moment the records appear on the gateway lists of a running, ready Sluice. */
  rps: number;
  /** The same, timed from the process's spawn: start-up (module loading, connecting, tables) included. */
  rpsWithStartup: number;
  peakRssMb: number;
  /** From SIGTERM to the process's exit, after the drain: not part of either rate. */
  shutdownMs: number;
  /** Sluice's CPU (every thread) from the release of the records to the drain, per record. */
  cpuUsPerRecord: number;
  /** The CPU of the database's server processes over the same span, per record. */
  pgCpuUsPerRecord: number;
  /** Redis's CPU over the same span, per record (the benchmark's own polling for drained lists included). */
  redisCpuUsPerRecord: number;
}

/**
 * Sluice is started on empty lists and timed from when the records appear on them (staged lists renamed in
 * in one MULTI) until the lists are drained, as a worker that is already running drains a backlog.
 */
async function sluiceRun(redis: Redis, elements: Buffer[]): Promise<SluiceRun> {
  const db = await freshDatabase('bench_sluice');
  const prefix = uniquePrefix('bench-sql');
  const keys = analyticsKeys(prefix).filter((k) => k.encoding === 'msgpack').map((k) => k.name);
  const port = await freePort();
  try {
    await stageRoundRobin(redis, keys, elements);
    const config = writeConfig({
      analytics_storage_config: { host: '127.0.0.1', port: 6379, key_prefix: prefix },
      purge_delay: 0.2, purge_chunk: 1000, dont_purge_uptime_data: true, health_check_endpoint_port: port,
      log_level: 'warn',
      pumps: { sql: { type: 'sql', meta: { type: 'postgres', connection_string: db.url } } },
      ...(SLUICE_SETTINGS ? { sluice: SLUICE_SETTINGS } : {}),
    });
    const spawned = performance.now();
    const sluice = startSluice(['--conf', config]);
    let peak = 0;
    let released = 0;
    let done = 0;
    let stopping = 0;
    let cpuAtRelease = 0;
    let cpu = 0;
    let redisCpuAtRelease = 0;
    let redisCpu = 0;
    const pgCpu = new DatabaseCpu(db.pool);
    try {
      await untilReady(sluice, port);
      await pgCpu.start();
      released = performance.now();
      cpuAtRelease = cpuSeconds(sluice.proc.pid!);
      redisCpuAtRelease = await redisCpuSeconds(redis);
      await releaseStaged(redis, keys);
      // Sluice acknowledges a batch only after its rows committed, so drained lists mean stored rows. Polling
      // count(*) instead would load the PostgreSQL being measured with a scan of a growing table.
      await waitFor(async () => {
        peak = Math.max(peak, procStatusMb(sluice.proc.pid!, 'VmHWM'));
        await pgCpu.sample();
        return drained(redis, keys);
      }, 600_000, 'drained lists', DRAIN_POLL_MS);
      done = performance.now();
      cpu = cpuSeconds(sluice.proc.pid!) - cpuAtRelease;
      redisCpu = (await redisCpuSeconds(redis)) - redisCpuAtRelease;
    } finally {
      stopping = performance.now();
      sluice.kill('SIGTERM');
      await sluice.exited;
    }
    const shutdownMs = performance.now() - stopping;
    const stored = (await db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n;
    if (stored !== elements.length) throw new Error(`tyk_analytics holds ${stored} rows, expected ${elements.length}`);
    return { rps: elements.length / ((done - released) / 1000), rpsWithStartup: elements.length / ((done - spawned) / 1000), peakRssMb: peak, shutdownMs, cpuUsPerRecord: (cpu * 1e6) / elements.length, pgCpuUsPerRecord: (pgCpu.seconds * 1e6) / elements.length, redisCpuUsPerRecord: (redisCpu * 1e6) / elements.length };
  } finally {
    await deleteMatching(redis, retryQueueKeys(prefix));
    await db.drop();
  }
}

/**
 * The `\copy` ceilings measured before and after Sluice's run, as one (bracketedRate; PostgreSQL's CPU per
 * `\copy`ed row moved between 13 and 19 µs within one benchmark).
 */
function bracketing(before: CopyCeilings, after: CopyCeilings): CopyCeilings {
  const mean = (a: CopyLoad, b: CopyLoad): CopyLoad => ({
    rps: bracketedRate(a.rps, b.rps),
    psqlCpuUs: (a.psqlCpuUs + b.psqlCpuUs) / 2,
    postgresCpuUs: (a.postgresCpuUs + b.postgresCpuUs) / 2,
  });
  return { text: mean(before.text, after.text), binary: mean(before.binary, after.binary) };
}

/** One run's figures: Sluice, and the ceilings measured beside it. */
interface Run {
  lrange: number;
  copy: CopyCeilings;
  sluice: SluiceRun;
}

/** CPU per record of the whole pipeline during Sluice's drain: Sluice, PostgreSQL and Redis. */
const pipelineCpuUs = ({ sluice: s }: Run) => s.cpuUsPerRecord + s.pgCpuUsPerRecord + s.redisCpuUsPerRecord;
/** CPU per record of the text `\copy`: psql and its backend. */
const copyCpuUs = ({ copy }: Run) => copy.text.psqlCpuUs + copy.text.postgresCpuUs;

function describeRun(run: Run): string {
  const { sluice: s, copy } = run;
  return `sluice ${s.rps.toFixed(0)}/s (${s.rpsWithStartup.toFixed(0)}/s with start-up), \\copy ${copy.text.rps.toFixed(0)}/s (binary ${copy.binary.rps.toFixed(0)}/s), `
    + `LRANGE ${run.lrange.toFixed(0)}/s, ratio ${(s.rps / copy.text.rps).toFixed(3)}, peak RSS ${s.peakRssMb.toFixed(0)} MB, shutdown ${s.shutdownMs.toFixed(0)} ms, `
    + `CPU per record: Sluice ${s.cpuUsPerRecord.toFixed(1)} µs + PostgreSQL ${s.pgCpuUsPerRecord.toFixed(1)} + Redis ${s.redisCpuUsPerRecord.toFixed(1)} `
    + `against \\copy's ${copyCpuUs(run).toFixed(1)} (psql ${copy.text.psqlCpuUs.toFixed(1)} + PostgreSQL ${copy.text.postgresCpuUs.toFixed(1)})`;
}

async function main(): Promise<void> {
  const elements = makeElements();
  const bytes = elements.reduce((n, e) => n + e.length, 0);
  const redis = new Redis('redis://127.0.0.1:6379');
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    const lrange = await lrangeCeiling(redis, elements);
    const copyBefore = await copyCeilings(elements);
    const sluice = await sluiceRun(redis, elements);
    const run = { lrange, copy: bracketing(copyBefore, await copyCeilings(elements)), sluice };
    runs.push(run);
    process.stderr.write(`run ${i + 1}/${RUNS}: ${describeRun(run)}\n`);
  }
  await redis.quit();
  const medianOf = (figure: (run: Run) => number, digits = 0) => Number(median(runs.map(figure)).toFixed(digits));
  const result = {
    benchmark: 'redis-to-tyk_analytics',
    records: RECORDS,
    mean_record_bytes: Math.round(bytes / RECORDS),
    runs: RUNS,
    sluice_settings: SLUICE_SETTINGS ?? 'defaults',
    median_records_per_second: {
      sluice: medianOf((r) => r.sluice.rps),
      sluice_including_startup: medianOf((r) => r.sluice.rpsWithStartup),
      psql_copy_ceiling: medianOf((r) => r.copy.text.rps),
      psql_copy_binary: medianOf((r) => r.copy.binary.rps),
      redis_lrange_ceiling: medianOf((r) => r.lrange),
    },
    median_ratio_sluice_to_copy: medianOf((r) => r.sluice.rps / r.copy.text.rps, 3),
    ratios_sluice_to_copy: runs.map((r) => Number((r.sluice.rps / r.copy.text.rps).toFixed(3))),
    median_ratio_sluice_to_copy_binary: medianOf((r) => r.sluice.rps / r.copy.binary.rps, 3),
    median_ratio_sluice_including_startup_to_copy: medianOf((r) => r.sluice.rpsWithStartup / r.copy.text.rps, 3),
    median_ratio_sluice_to_lrange: medianOf((r) => r.sluice.rps / r.lrange, 3),
    peak_rss_mb: Math.round(Math.max(...runs.map((r) => r.sluice.peakRssMb))),
    median_shutdown_ms: medianOf((r) => r.sluice.shutdownMs),
    median_sluice_cpu_us_per_record: medianOf((r) => r.sluice.cpuUsPerRecord, 1),
    median_postgres_cpu_us_per_record: medianOf((r) => r.sluice.pgCpuUsPerRecord, 1),
    median_redis_cpu_us_per_record: medianOf((r) => r.sluice.redisCpuUsPerRecord, 1),
    // `\copy` keeps about one core busy (psql and one backend, taking turns) and the pipeline as many as
    // there are, so the rate ratio is about cores_busy.pipeline / cores_busy.copy × cpu_ratio_copy_to_pipeline.
    median_pipeline_cpu_us_per_record: medianOf(pipelineCpuUs, 1),
    median_copy_cpu_us_per_record: medianOf(copyCpuUs, 1),
    median_cpu_ratio_copy_to_pipeline: medianOf((r) => copyCpuUs(r) / pipelineCpuUs(r), 3),
    median_cores_busy: {
      pipeline: medianOf((r) => (r.sluice.rps * pipelineCpuUs(r)) / 1e6, 2),
      copy: medianOf((r) => (r.copy.text.rps * copyCpuUs(r)) / 1e6, 2),
    },
    targets: { ratio_sluice_to_copy: 0.5, peak_rss_mb: 256 },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
