import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { analyticsKeys, inflightIndexKey, inflightOwner } from '../../src/source/source-keys.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { redisClient, uniquePrefix } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, type SluiceProcess, recentLog } from '../harness/sluice.js';
import { gatewayTraffic, multiset, pushTraffic, rowsByPath, total, undrainedKeys } from '../harness/gateway-traffic.js';

/*
 * Several Sluice processes on the same lists (DESIGN.md "Sources and topologies": the claim is atomic, so
 * none sees a record twice). Three workers drain 30,000 records — 500 of them byte-identical repeats —
 * and one is SIGKILLed while it holds claimed batches. The others take those batches over once their lease
 * runs out, and tyk_analytics ends up holding exactly the input multiset.
 */

const DISTINCT = 29_500;
const REPEATS = 500;
const LEASE_SECONDS = 2;
/** The reclaim loop's period for this lease (pipeline.ts: half the lease, within 250 ms … 5 s). */
const RECLAIM_INTERVAL_MS = Math.max(250, Math.min((LEASE_SECONDS * 1000) / 2, 5_000));
const WORKERS = ['wa', 'wb', 'wc'];

interface Orphan {
  index: string;
  inflight: string;
  leaseDeadline: number;
}

describe('three workers, one SIGKILLed mid-flow', () => {
  let db: TestDatabase;
  let redis: Redis;
  const prefix = uniquePrefix('many');
  const indexes = analyticsKeys(prefix).map((k) => inflightIndexKey(k.name));

  beforeAll(async () => {
    db = await freshDatabase('many');
    redis = redisClient();
  });
  afterAll(async () => {
    await redis.quit();
    await db.drop();
  });

  /** The in-flight lists `worker` holds now, with their lease deadlines (Redis server time, ms). */
  async function heldBy(worker: string): Promise<Orphan[]> {
    const held: Orphan[] = [];
    for (const index of indexes) {
      const members = await redis.zrange(index, 0, -1, 'WITHSCORES');
      for (let i = 0; i < members.length; i += 2) {
        if (inflightOwner(members[i]!) === worker) held.push({ index, inflight: members[i]!, leaseDeadline: Number(members[i + 1]) });
      }
    }
    return held;
  }

  async function serverNowMs(): Promise<number> {
    const [seconds, micros] = await redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /** Waits until every orphan has left its index (taken over: renamed to another worker); returns when, server time. */
  async function takenOverAt(orphans: Orphan[]): Promise<Map<string, number>> {
    const at = new Map<string, number>();
    await waitFor(async () => {
      for (const o of orphans) {
        if (!at.has(o.inflight) && (await redis.zscore(o.index, o.inflight)) === null) at.set(o.inflight, await serverNowMs());
      }
      return at.size === orphans.length;
    }, 30_000, 'the killed worker\'s batches to be taken over');
    return at;
  }

  it('delivers the input multiset exactly once, and takes the dead worker\'s batches over after its lease', { timeout: 180_000 }, async () => {
    const traffic = gatewayTraffic(prefix, 'many', { analytics: DISTINCT });
    // Byte-identical repeats of earlier records, as a gateway would write for identical requests.
    const keys = analyticsKeys(prefix);
    for (let r = 0; r < REPEATS; r++) {
      const i = r * 59;
      const elements = traffic.byKey.get(keys[i % keys.length]!.name)!;
      elements.push(elements[Math.floor(i / keys.length)]!);
      traffic.paths.push(traffic.paths[i]!);
    }
    await pushTraffic(redis, traffic.byKey);

    const workers: SluiceProcess[] = [];
    for (const id of WORKERS) {
      const config = sqlPumpConfig({
        prefix, pgUrl: db.url, port: await freePort(), extra: { purge_chunk: 200 }, sluice: { lease_seconds: LEASE_SECONDS, worker_id: id },
      });
      workers.push(startSluice(['--conf', writeConfig(config)]));
    }
    const [victim, ...survivors] = workers as [SluiceProcess, ...SluiceProcess[]];
    const expected = multiset(traffic.paths);
    try {
      // Mid-flow, past the start (where every key's loop claims at once), while the victim holds batches.
      await waitFor(async () => total(await rowsByPath(db, 'many')) >= 5_000 && (await heldBy(WORKERS[0]!)).length > 0, 60_000, 'the victim to hold batches mid-flow');
      victim.kill('SIGKILL');
      await victim.exited;
      const rowsAtKill = total(await rowsByPath(db, 'many'));
      const killedAt = await serverNowMs();
      const orphans = await heldBy(WORKERS[0]!);
      expect(orphans.length).toBeGreaterThan(0);
      const takenAt = await takenOverAt(orphans);
      // A lease may have run out before the kill (a starved event loop renews late): count from the later of the two.
      const afterLease = orphans.map((o) => takenAt.get(o.inflight)! - Math.max(o.leaseDeadline, killedAt));
      const afterKill = Math.max(...takenAt.values()) - killedAt;
      await waitFor(async () => total(await rowsByPath(db, 'many')) >= traffic.paths.length
        && (await undrainedKeys(redis, traffic.byKey.keys())).length === 0, 90_000, 'every record');
      console.log(`[many-workers] SIGKILLed ${WORKERS[0]} at ${rowsAtKill} of ${traffic.paths.length} rows, holding ${orphans.length} batch(es) `
        + `(${orphans.map((o) => o.inflight.slice(o.inflight.lastIndexOf('}') + 1)).join(', ')}); all taken over ${afterKill} ms after the kill; `
        + `first ${Math.min(...afterLease)} ms, last ${Math.max(...afterLease)} ms after its lease ran out (lease ${LEASE_SECONDS * 1000} ms, reclaim every ${RECLAIM_INTERVAL_MS} ms); `
        + `take-overs logged by the survivors: ${survivors.map((s) => s.output.filter((l) => l.includes('took over an orphaned batch')).length).join(' + ')}`);
      // Take-over starts at the first reclaim pass after a lease runs out (bounded here by one more lease, as
      // these machines are shared and loaded). The rest follow as the survivors
      // have room (their own claims hold back meanwhile): a survivor takes no more than its memory bounds allow,
      // so how long the last one waits depends on how fast the survivors write, not on the lease.
      expect(Math.min(...afterLease)).toBeLessThanOrEqual(LEASE_SECONDS * 1000 + RECLAIM_INTERVAL_MS);
      for (const s of survivors) expect(s.proc.exitCode).toBeNull();
    } catch (err) {
      for (const s of workers) console.log(recentLog(s, 10));
      throw err;
    } finally {
      for (const s of survivors) s.kill('SIGTERM');
    }
    for (const s of survivors) expect(await s.exited).toBe(0);

    const rows = await rowsByPath(db, 'many');
    expect(total(rows)).toBe(DISTINCT + REPEATS);
    expect(rows).toEqual(expected);
    expect([...rows.values()].filter((n) => n === 2)).toHaveLength(REPEATS);
  });
});
