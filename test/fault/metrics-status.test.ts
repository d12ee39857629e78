import { describe, expect, it } from 'vitest';
import { leftoverKeys, msgpackKeys } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, whileRunning } from '../harness/sluice.js';
import { BASE_RECORD, distinctRecords } from '../harness/records.js';
import { ClaimStore } from '../../src/source/claim-store.js';
import { timeToMillis } from '../../src/record/go-time.js';
import { cliJson, metricSum, rowCount, uniqueSqlPump, type StatusJson } from './delivery-helpers.js';
import { fileServices } from '../harness/file-services.js';

/*
 * The numbers an operator reads match what the test pushed: `sluice status --json` while a backlog waits
 * (per key: length, age of the oldest record, a batch in flight under a named worker), then /metrics and
 * status again once Sluice has drained it (claimed, redelivered, decoded, written, dead-lettered per kind
 * and sink).
 */

const GOOD_A = 1_000;
const GOOD_B = 500;
const UNDECODABLE = 5;
const HELD = 100;

describe('/metrics and sluice status report what was pushed', () => {
  const services = fileServices('numbers');
  const { prefix, deadLetterKey } = services;

  it('while a backlog waits and after it is drained', { timeout: 150_000 }, async () => {
    const [keyA, , , , keyB] = msgpackKeys(prefix);
    const a = distinctRecords('a', GOOD_A);
    a[500] = distinctRecords('nul', 1, { user_agent: 'nul\u0000here' })[0]!;
    const garbage = Array.from({ length: UNDECODABLE }, (_, i) => Buffer.from(`not a record ${i}`));
    await services.redis.rpush(keyA!, ...a);
    await services.redis.rpush(keyB!, ...garbage, ...distinctRecords('b', GOOD_B));
    // A batch in flight under a worker of the test's own, handed back before Sluice starts.
    const claims = new ClaimStore(services.redis, 'status-probe', 60_000);
    const held = (await claims.claim(keyA!, HELD))!;

    const { sink, pumps } = uniqueSqlPump('numbers', services.db.url);
    const port = await freePort();
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: services.db.url, port, extra: { pumps }, sluice: { dead_letter_key: deadLetterKey } }));
    const before = await cliJson<StatusJson>(['status', '--json', '--conf', config]);
    const byKey = new Map(before.keys.map((k) => [k.key, k]));
    expect(before.keys).toHaveLength(22);
    expect(byKey.get(keyA!)).toMatchObject({ backlog: GOOD_A - HELD, oldestUnknown: false });
    expect(byKey.get(keyA!)!.inflight).toEqual([expect.objectContaining({ worker: 'status-probe', elements: HELD, leaseExpired: false })]);
    const expectedAge = (Date.now() - timeToMillis(BASE_RECORD.timestamp)) / 1000;
    expect(Math.abs(byKey.get(keyA!)!.oldestAgeSeconds! - expectedAge)).toBeLessThan(60);
    expect(byKey.get(keyB!)).toMatchObject({ backlog: UNDECODABLE + GOOD_B, oldestAgeSeconds: null, oldestUnknown: true, inflight: [] });
    expect(before.keys.filter((k) => k.key !== keyA && k.key !== keyB).every((k) => k.backlog === 0 && k.inflight.length === 0)).toBe(true);
    expect(before.sinks).toEqual([{ sink, retryBacklog: 0, deadBatches: 0 }]);
    console.log(`status before: ${keyA} backlog ${byKey.get(keyA!)!.backlog}, oldest ${byKey.get(keyA!)!.oldestAgeSeconds!.toFixed(0)} s, ` +
      `${HELD} in flight under status-probe; ${keyB} backlog ${byKey.get(keyB!)!.backlog}, oldest unknown`);
    await claims.release(held);

    const sluice = startSluice(['--conf', config]);
    expect(await whileRunning(sluice, async () => {
      await waitFor(async () => (await leftoverKeys(services.redis, prefix)).length === 0, 60_000, 'the lists drained');
      await waitFor(async () => (await services.redis.hlen(deadLetterKey)) === UNDECODABLE + 1, 20_000, 'the dead letters');
      const claimed = await metricSum(port, 'sluice_records_claimed_total');
      const redelivered = await metricSum(port, 'sluice_records_redelivered_total');
      const decoded = await metricSum(port, 'sluice_records_decoded_total');
      const written = await metricSum(port, 'sluice_records_written_total', { sink });
      const undecodable = await metricSum(port, 'sluice_records_dead_lettered_total', { kind: 'undecodable' });
      const rejected = await metricSum(port, 'sluice_records_dead_lettered_total', { kind: 'rejected', sink });
      const claimedA = await metricSum(port, 'sluice_records_claimed_total', { key: keyA! });
      console.log(`metrics: claimed ${claimed} (${keyA}: ${claimedA}), redelivered ${redelivered}, decoded ${decoded}, ` +
        `written ${written}, dead-lettered undecodable ${undecodable}, rejected ${rejected}`);
      // Taken-over elements count as claimed too (every element this worker picked up), and as redelivered.
      expect(claimed).toBe(GOOD_A + UNDECODABLE + GOOD_B);
      expect(redelivered).toBe(HELD);
      expect(claimedA).toBe(GOOD_A);
      expect(decoded).toBe(GOOD_A + GOOD_B);
      expect(written).toBe(GOOD_A + GOOD_B - 1);
      expect(undecodable).toBe(UNDECODABLE);
      expect(rejected).toBe(1);
      expect(await rowCount(services.db)).toBe(GOOD_A + GOOD_B - 1);

      const after = await cliJson<StatusJson>(['status', '--json', '--conf', config]);
      expect(after.keys.every((k) => k.backlog === 0 && k.inflight.length === 0)).toBe(true);
      expect(after.deadLetters.total).toBe(UNDECODABLE + 1);
      expect(after.deadLetters.groups.sort((x, y) => x.kind.localeCompare(y.kind))).toEqual([
        { kind: 'rejected', sink, count: 1 },
        { kind: 'undecodable', sink: null, count: UNDECODABLE },
      ]);
    })).toBe(0);
  });
});
