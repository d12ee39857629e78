import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { leftoverKeys, msgpackKeys, pushRoundRobin, uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, recentLog } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import { cuttableStore, rowCount, rowsAndDistinctPaths } from './delivery-helpers.js';

/*
 * The case where no write can tell that a sink's store is back: its retry queue filled up during the
 * outage, so claiming paused, and its batches wait out a retry backoff far longer than the outage. Only
 * the runner's probe of the sink notices the store again; it makes one queued batch due, whose write makes
 * the others due; the queue drains, claiming resumes, and every record arrives once.
 */

const FIRST = 100;
const DURING_OUTAGE = 1_000;
/** Pushed once claiming has paused: these wait in Redis until the queue drains. */
const WHILE_PAUSED = 500;
const TOTAL = FIRST + DURING_OUTAGE + WHILE_PAUSED;
const QUEUE_BACKOFF_MS = 120_000;
/** Generous for a loaded machine, and well short of QUEUE_BACKOFF_MS, which is what waiting without the probe takes. */
const CATCH_UP_LIMIT_MS = 60_000;

describe('a store that comes back while claiming is paused behind its full retry queue', () => {
  const store = cuttableStore('paused_recovery');
  const prefix = uniquePrefix('paused');
  const sink = `paused_${randomBytes(3).toString('hex')}`;

  it('is noticed by a probe, and the queued batches and the paused records all arrive once', { timeout: 180_000 }, async () => {
    const { db, redis, proxy, url: proxiedUrl } = store;
    const configPath = writeConfig(sqlPumpConfig({
      prefix, pgUrl: db.url, port: await freePort(),
      extra: {
        purge_chunk: 100,
        pumps: { [sink]: { type: 'sql', timeout: 3, meta: { type: 'postgres', connection_string: proxiedUrl, table_sharding: false } } },
      },
      sluice: {
        dead_letter_key: `dlq-${prefix}`,
        retry: { in_process_attempts: 1, in_process_backoff_ms: 50, queue_backoff_ms: QUEUE_BACKOFF_MS, queue_attempts: 5, queue_max_backlog: 2 },
      },
    }));
    const sluice = startSluice(['--conf', configPath]);
    const logged = (text: string) => sluice.output.some((line) => line.includes(text));
    const records = distinctRecords('paused', TOTAL);
    const keys = msgpackKeys(prefix);
    try {
      await pushRoundRobin(redis, keys, records.slice(0, FIRST));
      await waitFor(async () => (await rowCount(db)) === FIRST, 60_000, 'the first records written');

      proxy.cut();
      await pushRoundRobin(redis, keys, records.slice(FIRST, FIRST + DURING_OUTAGE));
      await waitFor(async () => logged('claiming paused'), 60_000, 'claiming paused behind the full retry queue');
      const listed = async () => (await Promise.all(keys.map((key) => redis.llen(key)))).reduce((a, b) => a + b, 0);
      // Some of the outage's records may not have been claimed when claiming paused; they wait too.
      const beforeLast = await listed();
      await pushRoundRobin(redis, keys, records.slice(FIRST + DURING_OUTAGE));
      // Several purge_delay periods: a claim loop that was not paused would have taken them by now.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const waitingInRedis = await listed();
      expect(waitingInRedis).toBe(beforeLast + WHILE_PAUSED);

      proxy.restore();
      const restoredAt = Date.now();
      await waitFor(async () => (await rowCount(db)) >= TOTAL, CATCH_UP_LIMIT_MS, 'every record written after the store came back');
      console.log(`caught up ${Date.now() - restoredAt} ms after the store came back (retry backoff ${QUEUE_BACKOFF_MS} ms); ` +
        `${waitingInRedis} records had waited in Redis`);
      expect(logged('sink answers again')).toBe(true);
      expect(logged('trying one batch of its retry queue now')).toBe(true);
      expect(logged('the batches waiting in its retry queue are due now')).toBe(true);
      await waitFor(async () => logged('claiming resumed'), 10_000, 'claiming resumed');
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 30_000, 'gateway and in-flight lists empty');
    } catch (err) {
      console.log(recentLog(sluice, 40));
      throw err;
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await sluice.exited).toBe(0);
    expect(await rowsAndDistinctPaths(db)).toEqual({ n: TOTAL, d: TOTAL });
  });
});
