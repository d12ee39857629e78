import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import type { StorageConfig } from '../../src/config/types.js';
import { createRedisClient, waitUntilReady, type RedisClient } from '../../src/source/redis-connection.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { startCluster, startSentinel, storageConfig, type ClusterRedis, type SentinelRedis } from '../harness/redis-servers.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, type SluiceProcess, recentLog } from '../harness/sluice.js';
import { gatewayTraffic, multiset, pushTraffic, rowsByPath, total, undrainedKeys } from '../harness/gateway-traffic.js';

/*
 * Failover while Sluice drains (DESIGN.md "Delivery"; field notes 14 and 16). Replication is asynchronous,
 * so a claim the old master acknowledged may never reach the new one; Sluice confirms each claim on a
 * replica (WAIT) before writing it, and undoes the ones it cannot confirm. 20,000 replicated records are
 * drained through a Sentinel failover, a Sentinel master's death and a Cluster master's death; each must
 * land exactly once, and Sluice must ride through without exiting.
 */

const RECORDS = 20_000;
/**
 * Longer than every bounded wait of a run together (starting the servers, rows to flow, the failover, every
 * record), so that a stall fails in its own wait, with Sluice's recent log printed, not in a bare timeout.
 */
const TEST_TIMEOUT_MS = 240_000;
/** SIGTERM's shutdown timeout (25 s by default) and the closing of connections after it. */
const EXIT_WAIT_MS = 60_000;

/** The exit code after SIGTERM; a process still running after EXIT_WAIT_MS has its log printed and is killed. */
async function exitAfterSigterm(sluice: SluiceProcess): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), EXIT_WAIT_MS)));
  const exit = await Promise.race([sluice.exited, timedOut]);
  clearTimeout(timer);
  if (exit === 'still running') {
    console.log(`[failover] still running ${EXIT_WAIT_MS} ms after SIGTERM:\n${recentLog(sluice, 40)}`);
    sluice.kill('SIGKILL');
  }
  return exit;
}

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase('failover');
});
afterAll(async () => {
  await db?.drop();
});

async function gatewayClient(storage: StorageConfig): Promise<RedisClient> {
  const client = createRedisClient(storage, { name: 'test-gateway', onError: () => undefined });
  await waitUntilReady(client, storage, 10_000);
  return client;
}

/** WAIT on every master connection the pushes went through: the records are on a replica before the test starts. */
async function replicate(client: RedisClient): Promise<void> {
  const connections = client instanceof Cluster ? client.nodes('master') : [client];
  const acked = await Promise.all(connections.map((c) => c.call('WAIT', '1', '10000')));
  expect(acked.every((n) => Number(n) >= 1)).toBe(true);
}

function logCount(sluice: SluiceProcess, text: string): number {
  return sluice.output.filter((line) => line.includes(text)).length;
}

interface FailoverRun {
  label: string;
  storage: StorageConfig;
  /** Starts the failover; resolves once the deployment serves writes again, with a description of it. */
  fail(): Promise<string>;
}

async function drainThroughFailover(run: FailoverRun): Promise<void> {
  const gateway = await gatewayClient(run.storage);
  try {
    const traffic = gatewayTraffic('analytics-', run.label, { analytics: RECORDS });
    await pushTraffic(gateway, traffic.byKey);
    await replicate(gateway);
    const config = writeConfig(sqlPumpConfig({
      prefix: 'analytics-', pgUrl: db.url, port: await freePort(),
      extra: { analytics_storage_config: run.storage, purge_chunk: 100 }, sluice: { lease_seconds: 2 },
    }));
    const sluice = startSluice(['--conf', config]);
    const delivered = async () => total(await rowsByPath(db, run.label));
    try {
      await waitFor(async () => (await delivered()) > 0, 30_000, 'rows to flow');
      const atFailover = await delivered();
      const what = await run.fail();
      const afterFailover = await delivered();
      await waitFor(async () => (await delivered()) >= RECORDS && (await undrainedKeys(gateway, traffic.byKey.keys())).length === 0, 90_000, 'every record');
      console.log(`[failover] ${run.label}: ${what}; rows at failover start ${atFailover}, once it served again ${afterFailover}, of ${RECORDS}; `
        + `claims undone for want of a replica: ${logCount(sluice, 'not confirmed by a replica')}; orphans taken over: ${logCount(sluice, 'took over an orphaned batch')}`);
      expect(atFailover).toBeLessThan(RECORDS);
      expect(sluice.proc.exitCode).toBeNull();
    } catch (err) {
      console.log(recentLog(sluice, 25));
      throw err;
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await exitAfterSigterm(sluice)).toBe(0);
    const rows = await rowsByPath(db, run.label);
    expect(total(rows)).toBe(RECORDS);
    expect(rows).toEqual(multiset(traffic.paths));
  } finally {
    gateway.disconnect();
  }
}

describe('Sentinel: 20,000 records drained through a failover, exactly once', () => {
  let sentinel: SentinelRedis | undefined;
  afterAll(async () => {
    await sentinel?.stop();
  });

  it('SENTINEL FAILOVER mid-flow', { timeout: TEST_TIMEOUT_MS }, async () => {
    sentinel = await startSentinel();
    const deployment = sentinel;
    await drainThroughFailover({
      label: 'sentinel-failover',
      storage: storageConfig(deployment.storage),
      fail: async () => {
        const before = await deployment.masterAddress();
        return `SENTINEL FAILOVER ${before} → ${await deployment.failover()}`;
      },
    });
  });

  it('the master SIGKILLed mid-flow', { timeout: TEST_TIMEOUT_MS }, async () => {
    // After the first test the old master replicates from the new one again: a second failover has a replica to promote.
    const deployment = sentinel ?? (sentinel = await startSentinel());
    await drainThroughFailover({
      label: 'sentinel-kill',
      storage: storageConfig(deployment.storage),
      fail: async () => {
        const before = await deployment.masterAddress();
        return `killed ${before}, promoted ${await deployment.killMaster()}`;
      },
    });
  });
});

describe('Cluster: 20,000 records drained through a master\'s death, exactly once', () => {
  let cluster: ClusterRedis | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a master SIGKILLed mid-flow', { timeout: TEST_TIMEOUT_MS }, async () => {
    cluster = await startCluster();
    const deployment = cluster;
    await drainThroughFailover({
      label: 'cluster-kill',
      storage: storageConfig(deployment.storage),
      fail: async () => {
        const { killed, promoted } = await deployment.killMasterOf('analytics-tyk-system-analytics');
        return `killed ${killed}, promoted its replica ${promoted}`;
      },
    });
  });
});
