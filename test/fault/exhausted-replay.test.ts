import { describe, expect, it } from 'vitest';
import { leftoverKeys, msgpackKeys, uniquePrefix } from '../harness/redis.js';
import { freePort, runSluice, sqlPumpConfig, startSluice, waitFor, writeConfig, whileRunning } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import { cliJson, cuttableStore, httpStatus, rowCount, rowsAndDistinctPaths, uniqueSqlPump, type StatusJson } from './delivery-helpers.js';

/*
 * Batches that run out of attempts: PostgreSQL is cut off from the start and the retry queue allows one
 * attempt, so both batches end in the sink's BullMQ failed set. `dlq list` shows them as `exhausted`,
 * and once the database is back `dlq replay --sink` retries them and every record lands once.
 */

const RECORDS = 200;

describe('exhausted batches are listed and replayed', () => {
  const store = cuttableStore('exhaust');
  const prefix = uniquePrefix('exhaust');

  it('lists them as exhausted and replays them once the store is back', { timeout: 180_000 }, async () => {
    const { db, redis, proxy, url: proxiedUrl } = store;
    const [key] = msgpackKeys(prefix);
    await redis.rpush(key!, ...distinctRecords('exhaust', RECORDS));
    const { sink, pumps } = uniqueSqlPump('exhaust', proxiedUrl);
    const port = await freePort();
    const config = writeConfig(sqlPumpConfig({
      prefix, pgUrl: db.url, port, extra: { purge_chunk: 100, pumps },
      sluice: { dead_letter_key: `dlq-${prefix}`, retry: { in_process_attempts: 1, in_process_backoff_ms: 100, queue_attempts: 1, queue_backoff_ms: 100 } },
    }));
    proxy.cut();
    const sluice = startSluice(['--conf', config]);
    expect(await whileRunning(sluice, async () => {
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 60_000, 'the batches acked into the retry queue');
      const status = () => cliJson<StatusJson>(['status', '--json', '--conf', config]);
      await waitFor(async () => (await status()).sinks[0]!.deadBatches === 2, 60_000, 'two exhausted batches');
      const listed = await cliJson<Array<{ id: string; kind: string; sink: string; elements: number; reason: string }>>(['dlq', 'list', '--json', '--conf', config]);
      console.log(`dlq list: ${listed.map((e) => `${e.kind} ${e.sink} ${e.elements} elements ("${e.reason.slice(0, 60)}")`).join('; ')}`);
      expect(listed.map((e) => [e.kind, e.sink, e.elements])).toEqual([['exhausted', sink, 100], ['exhausted', sink, 100]]);
      expect(await rowCount(db)).toBe(0);

      proxy.restore();
      // A replayed batch written before the sink has reopened would fail its one attempt again.
      await waitFor(async () => (await httpStatus(port, '/ready')) === 200, 60_000, 'the sink reopened');
      const replay = await runSluice(['dlq', 'replay', '--sink', sink, '--conf', config]);
      expect(replay.code).toBe(0);
      await waitFor(async () => (await rowCount(db)) === RECORDS, 60_000, 'the replayed batches written');
      expect(await rowsAndDistinctPaths(db)).toEqual({ n: RECORDS, d: RECORDS });
      await waitFor(async () => {
        const s = (await status()).sinks[0]!;
        return s.deadBatches === 0 && s.retryBacklog === 0;
      }, 30_000, 'the retry queue empty');
    })).toBe(0);
  });
});
