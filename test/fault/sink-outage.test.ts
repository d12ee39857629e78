import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, redisClient, uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, recentLog } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import { proxyPostgres, type TcpProxy } from '../harness/tcp-proxy.js';
import { cliJson, httpStatus, rowCount, rowsAndDistinctPaths, type StatusJson } from './delivery-helpers.js';
import { procStatusMb } from '../harness/process-stats.js';
import { RetryQueue } from '../../src/delivery/retry-queue.js';

/*
 * One sink loses its PostgreSQL for 20 s while records keep arriving; the other sink's database stays
 * healthy. The cut sink's batches go through the in-process retries into its BullMQ retry queue; the
 * healthy sink keeps writing; /ready says 503 while a sink is unreachable; memory stays bounded; and once
 * the database is back, both hold every record exactly once and the retry queue is empty.
 * The queue's backoff (4 minutes) far outlasts the outage: the queued batches are written soon after the
 * database is back only because a sink that writes again makes one of them due at once, and its write
 * the others.
 */

const RECORDS = 50_000;
const PUSH_CHUNK = 1_000;
const PUSH_EVERY_MS = 500;
const OUTAGE_MS = 20_000;
const RSS_LIMIT_MB = 256;
const QUEUE_BACKOFF_MS = 240_000;
/**
 * Generous for a loaded machine. Without the retries made due, catching up would take QUEUE_BACKOFF_MS
 * less the outage at least: the first failed retries were during the outage.
 */
const CATCH_UP_LIMIT_MS = 90_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Only adding a batch reads them; this test reads the queue. */
const UNUSED_SETTINGS = { queue_attempts: 1, queue_backoff_ms: 1, queue_max_backlog: 1, in_process_attempts: 1, in_process_backoff_ms: 1 };

/** Where a sink's retry queue stands: counts by state, and when each waiting-out-a-backoff batch is due. */
async function retryQueueState(redis: Redis, sink: string, keyPrefix: string): Promise<string> {
  const retry = new RetryQueue(redis, sink, UNUSED_SETTINGS, keyPrefix);
  try {
    const counts = await retry.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'failed', 'completed');
    const delayed = await retry.queue.getJobs(['delayed'], 0, 9, true);
    const due = delayed.map((job) => `${job.id} due in ${Math.round((job.timestamp + job.delay - Date.now()) / 1000)} s after ${job.attemptsMade} attempts`);
    return `retry queue ${retry.name}: ${JSON.stringify(counts)}${due.length > 0 ? `; first delayed: ${due.join('; ')}` : ''}`;
  } finally {
    await retry.close();
  }
}

describe('a sink outage backs up only that sink and loses nothing', () => {
  let cutDb: TestDatabase;
  let healthyDb: TestDatabase;
  let redis: Redis;
  let proxy: TcpProxy;
  let proxiedUrl: string;
  const prefix = uniquePrefix('outage');
  // Pump names are queue names too (retry-<sink>); unique ones keep parallel test files apart.
  const tag = randomBytes(3).toString('hex');
  const cutSink = `cut_${tag}`;
  const healthySink = `direct_${tag}`;

  beforeAll(async () => {
    [cutDb, healthyDb] = await Promise.all([freshDatabase('outage_cut'), freshDatabase('outage_ok')]);
    redis = redisClient();
    ({ proxy, url: proxiedUrl } = await proxyPostgres(cutDb.url));
  });
  afterAll(async () => {
    await proxy.close();
    await redis.quit();
    await Promise.all([cutDb.drop(), healthyDb.drop()]);
  });

  it(`delivers ${RECORDS} records exactly once to both sinks across a ${OUTAGE_MS / 1000} s outage of one`, { timeout: 240_000 }, async () => {
    const port = await freePort();
    const configPath = writeConfig(sqlPumpConfig({
      prefix, pgUrl: healthyDb.url, port,
      extra: {
        pumps: {
          [cutSink]: { type: 'sql', timeout: 5, meta: { type: 'postgres', connection_string: proxiedUrl, table_sharding: false } },
          [healthySink]: { type: 'sql', meta: { type: 'postgres', connection_string: healthyDb.url, table_sharding: false } },
        },
      },
      sluice: {
        dead_letter_key: `dlq-${prefix}`,
        retry: { in_process_attempts: 2, in_process_backoff_ms: 100, queue_backoff_ms: QUEUE_BACKOFF_MS, queue_attempts: 12 },
      },
    }));
    const sluice = startSluice(['--conf', configPath]);
    const pid = sluice.proc.pid!;
    let maxRss = 0;
    const rssSampler = setInterval(() => {
      try {
        maxRss = Math.max(maxRss, procStatusMb(pid, 'VmRSS'));
      } catch {
        // the process has exited; the assertions below say so
      }
    }, 500);
    const records = distinctRecords('outage', RECORDS);
    const keys = msgpackKeys(prefix);
    const producer = (async () => {
      for (let start = 0; start < RECORDS; start += PUSH_CHUNK) {
        await pushRoundRobin(redis, keys, records.slice(start, start + PUSH_CHUNK));
        await sleep(PUSH_EVERY_MS);
      }
    })();
    try {
      await waitFor(async () => (await rowCount(cutDb)) > 0 && (await rowCount(healthyDb)) > 0, 60_000, 'both sinks writing');
      expect(await httpStatus(port, '/ready')).toBe(200);

      proxy.cut();
      const cutAt = Date.now();
      await sleep(3_000);
      const healthyAtCut = await rowCount(healthyDb);
      const cutRowsAtCut = await rowCount(cutDb);
      // Started now and read later: a CLI run takes seconds on a loaded machine, and the outage must not wait for it.
      const duringStatus = cliJson<StatusJson>(['status', '--json', '--conf', configPath]);
      const readyDuringOutage: number[] = [];
      while (Date.now() - cutAt < OUTAGE_MS - 4_000) {
        readyDuringOutage.push(await httpStatus(port, '/ready'));
        await sleep(1_000);
      }
      const during = await duringStatus;
      const healthyLate = await rowCount(healthyDb);
      const cutRowsLate = await rowCount(cutDb);
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - cutAt)));
      proxy.restore();
      const restoredAt = Date.now();
      const retryBacklogDuring = during.sinks.find((s) => s.sink === cutSink.toUpperCase())?.retryBacklog;
      console.log(`outage ${Date.now() - cutAt} ms: healthy rows ${healthyAtCut} → ${healthyLate}, cut sink rows ${cutRowsAtCut} → ${cutRowsLate}; ` +
        `/ready during outage: ${readyDuringOutage.join(',')}; cut sink retry backlog ${retryBacklogDuring} batches`);

      // One probe a second for 13 s; on a loaded machine each probe can take seconds.
      expect(readyDuringOutage.length).toBeGreaterThanOrEqual(3);
      expect(readyDuringOutage.every((s) => s === 503)).toBe(true);
      expect(healthyLate).toBeGreaterThan(healthyAtCut);
      expect(cutRowsLate).toBe(cutRowsAtCut);
      expect(retryBacklogDuring).toBeGreaterThan(0);

      await waitFor(async () => (await httpStatus(port, '/ready')) === 200, 30_000, '/ready 200 after the outage');
      await producer;
      try {
        await waitFor(async () => (await rowCount(cutDb)) >= RECORDS && (await rowCount(healthyDb)) >= RECORDS, CATCH_UP_LIMIT_MS, 'every record in both databases');
      } catch (err) {
        console.log(`not caught up: cut sink rows ${await rowCount(cutDb)}, healthy sink rows ${await rowCount(healthyDb)}; ` +
          await retryQueueState(redis, cutSink, prefix));
        throw err;
      }
      const caughtUpMs = Date.now() - restoredAt;
      console.log(`the cut sink caught up ${caughtUpMs} ms after its database came back (retry backoff ${QUEUE_BACKOFF_MS} ms)`);
      const logged = (text: string) => sluice.output.some((line) => line.includes(text));
      expect(logged('trying one batch of its retry queue now')).toBe(true);
      expect(logged('the batches waiting in its retry queue are due now')).toBe(true);
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 30_000, 'gateway and in-flight lists empty');
      const after = await cliJson<StatusJson>(['status', '--json', '--conf', configPath]);
      expect(after.sinks.map((s) => [s.sink, s.retryBacklog, s.deadBatches]).sort()).toEqual(
        [[cutSink.toUpperCase(), 0, 0], [healthySink.toUpperCase(), 0, 0]].sort());
      expect(after.deadLetters.total).toBe(0);
    } catch (err) {
      console.log(recentLog(sluice));
      throw err;
    } finally {
      clearInterval(rssSampler);
      sluice.kill('SIGTERM');
      await producer.catch(() => undefined);
    }
    expect(await sluice.exited).toBe(0);
    console.log(`peak RSS ${maxRss.toFixed(0)} MB (limit ${RSS_LIMIT_MB} MB)`);
    expect(maxRss).toBeGreaterThan(0);
    expect(maxRss).toBeLessThan(RSS_LIMIT_MB);
    expect(await rowsAndDistinctPaths(cutDb)).toEqual({ n: RECORDS, d: RECORDS });
    expect(await rowsAndDistinctPaths(healthyDb)).toEqual({ n: RECORDS, d: RECORDS });
  });
});
