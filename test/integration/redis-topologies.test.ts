import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageConfig } from '../../src/config/types.js';
import {
  RedisConfigError,
  RedisConnectionError,
  createRedisClient,
  describeRedisTarget,
  lastRedisError,
  waitUntilReady,
  type RedisClient,
} from '../../src/source/redis-connection.js';
import {
  adminCommand,
  createTestCertificates,
  startCluster,
  startSentinel,
  startStandalone,
  startTls,
  storageConfig,
  waitFor,
  type ClusterRedis,
  type RedisDeployment,
  type SentinelRedis,
  type StandaloneRedis,
  type TestCertificates,
  type TlsRedis,
} from '../harness/redis-servers.js';

/*
 * createRedisClient against real servers of every topology Sluice supports (DESIGN.md "Sources and
 * topologies"; field notes 14–16): the commands the claim path uses work, failures name the setting to
 * fix, and the client rides through Sentinel and Cluster failovers without being recreated.
 */

const SOURCE_KEY = 'analytics-tyk-system-analytics';
// Hash-tagged like an in-flight list: same slot as SOURCE_KEY, so one script may touch both on Cluster.
const TAGGED_KEY = '{analytics-tyk-system-analytics}:x';
const READY_MS = 10_000;

/** Moves up to ARGV[1] elements from the head of KEYS[1] to KEYS[2]: the shape of a claim. */
const MOVE_SCRIPT = `
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('RPUSH', KEYS[2], unpack(items))
  redis.call('LTRIM', KEYS[1], #items, -1)
end
return items`;

const ACL_USER = { username: 'sluice', password: 'correct-horse' };

let standalone: StandaloneRedis;
let acl: StandaloneRedis;
let certificates: TestCertificates;
let tls13: TlsRedis;
let mtls: TlsRedis;
let sentinel: SentinelRedis;
let cluster: ClusterRedis;
const deployments: RedisDeployment[] = [];
const clients: RedisClient[] = [];
const topologiesRun: string[] = [];

async function started<T extends RedisDeployment>(deployment: Promise<T>): Promise<T> {
  const ready = await deployment;
  deployments.push(ready);
  return ready;
}

beforeAll(async () => {
  const begin = Date.now();
  certificates = await createTestCertificates();
  [standalone, acl, tls13, mtls, sentinel, cluster] = await Promise.all([
    started(startStandalone()),
    started(startStandalone({ acl: ACL_USER })),
    started(startTls({ certificates, protocols: ['TLSv1.3'] })),
    started(startTls({ certificates, requireClientCert: true })),
    started(startSentinel()),
    started(startCluster()),
  ]);
  console.log(`[redis-topologies] servers up in ${Date.now() - begin} ms`);
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(deployments.map((d) => d.stop()));
  if (certificates) rmSync(certificates.dir, { recursive: true, force: true });
  console.log(`[redis-topologies] topologies run: ${topologiesRun.join(', ') || 'none'}`);
});

interface Connected {
  client: RedisClient;
  storage: StorageConfig;
  errors: RedisConnectionError[];
}

function connect(fragment: Partial<StorageConfig>): Connected {
  const storage = storageConfig(fragment);
  const errors: RedisConnectionError[] = [];
  const client = createRedisClient(storage, { name: 'sluice-topology-test', onError: (e) => errors.push(e) });
  clients.push(client);
  return { client, storage, errors };
}

async function connectReady(fragment: Partial<StorageConfig>): Promise<Connected> {
  const connected = connect(fragment);
  await waitUntilReady(connected.client, connected.storage, READY_MS);
  return connected;
}

/** The commands the claim path needs: RPUSH, LRANGE and a script over two keys of one slot. */
async function exerciseClaimCommands(client: RedisClient): Promise<void> {
  await client.del(SOURCE_KEY);
  await client.del(TAGGED_KEY);
  await client.rpush(SOURCE_KEY, 'r1', 'r2', 'r3');
  expect(await client.lrange(SOURCE_KEY, 0, -1)).toEqual(['r1', 'r2', 'r3']);
  expect(await client.eval(MOVE_SCRIPT, 2, SOURCE_KEY, TAGGED_KEY, 2)).toEqual(['r1', 'r2']);
  expect(await client.lrange(TAGGED_KEY, 0, -1)).toEqual(['r1', 'r2']);
  expect(await client.lrange(SOURCE_KEY, 0, -1)).toEqual(['r3']);
}

/** Connects, runs the claim commands, and records the topology as run. */
async function checkTopology(label: string, fragment: Partial<StorageConfig>): Promise<Connected> {
  const connected = await connectReady(fragment);
  await exerciseClaimCommands(connected.client);
  topologiesRun.push(label);
  return connected;
}

/** The client gives up on nothing: after a failure it is still trying, not ended. */
async function expectStillRetrying(client: RedisClient): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(client.status).not.toBe('end');
}

/**
 * Checks a list written by `retryUntil(() => rpush(key, value))` after `before`: `before` survived, and
 * behind it only `value`, at least once and at most once per attempt. A retried RPUSH is at-least-once: an
 * attempt that timed out waiting for the new master stays queued in ioredis and is sent once the client
 * reconnects, beside the retry. (Sluice's claims tolerate the same: a claim its caller gave up on is an
 * in-flight list with a lease nobody renews, taken over when it runs out.) Returns how many landed.
 */
function expectRetriedWriteAfter(list: unknown, before: string, value: string, attempts: number): number {
  const elements = list as string[];
  const start = elements.lastIndexOf(before);
  expect(start, `${before} is on the new master: ${JSON.stringify(elements)}`).toBeGreaterThanOrEqual(0);
  const written = elements.slice(start + 1);
  expect(written.length).toBeGreaterThanOrEqual(1);
  expect(written.length).toBeLessThanOrEqual(attempts);
  expect(new Set(written)).toEqual(new Set([value]));
  return written.length;
}

async function retryUntil<T>(timeoutMs: number, action: () => Promise<T>): Promise<{ result: T; attempts: number }> {
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts += 1) {
    try {
      return { result: await action(), attempts };
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

describe('every topology runs the claim commands', () => {
  it('standalone', async () => {
    await checkTopology('standalone', standalone.storage);
  });

  it('standalone with an ACL user', async () => {
    const { client } = await checkTopology('acl', acl.storage);
    expect(await client.call('ACL', 'WHOAMI')).toBe(ACL_USER.username);
  });

  it('TLS', async () => {
    await checkTopology('tls', tls13.storage);
  });

  it('mutual TLS', async () => {
    await checkTopology('mtls', mtls.storage);
  });

  it('Sentinel', async () => {
    await checkTopology('sentinel', sentinel.storage);
  });

  it('Cluster', async () => {
    await checkTopology('cluster', cluster.storage);
  });
});

describe('a connection failure names the setting to check, and the client keeps retrying', () => {
  async function expectFailureNaming(fragment: Partial<StorageConfig>, setting: RegExp): Promise<void> {
    const { client, storage, errors } = connect(fragment);
    await waitFor('a connection error', 8_000, async () => errors.length > 0);
    expect(errors[0]!.message).toMatch(setting);
    const failure = await waitUntilReady(client, storage, 100).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(RedisConnectionError);
    expect((failure as Error).message).toMatch(setting);
    expect(lastRedisError(client)?.message).toMatch(setting);
    await expectStillRetrying(client);
    client.disconnect();
  }

  it('a CA that did not sign the server certificate → ssl_ca_file', async () => {
    await expectFailureNaming({ ...tls13.storage, ssl_ca_file: certificates.otherCaFile }, /ssl_ca_file.*ssl_insecure_skip_verify/);
  });

  it('a wrong password → password', async () => {
    await expectFailureNaming({ ...acl.storage, password: 'wrong' }, /password/);
  });

  it('a TLS version range the server does not accept → ssl_min_version / ssl_max_version', async () => {
    await expectFailureNaming({ ...tls13.storage, ssl_max_version: '1.2' }, /ssl_min_version.*ssl_max_version/);
  });

  it('no client certificate where the server requires one → ssl_cert_file', async () => {
    await expectFailureNaming({ ...mtls.storage, ssl_cert_file: '', ssl_key_file: '' }, /ssl_cert_file/);
  });

  it('TLS on where the server speaks plain Redis → use_ssl', async () => {
    // timeout 1 s: the handshake hangs until the connect timeout, which is what the error reports.
    await expectFailureNaming({ ...standalone.storage, use_ssl: true, timeout: 1 }, /use_ssl/);
  });

  it('nothing listening → host / port', async () => {
    const gone = await startStandalone();
    await gone.stop();
    await expectFailureNaming(gone.storage, /host.*port/);
  });

  it('skipping verification accepts the unknown CA', async () => {
    await connectReady({ ...tls13.storage, ssl_ca_file: certificates.otherCaFile, ssl_insecure_skip_verify: true });
  });
});

describe('settings that cannot work are refused before connecting, naming the key', () => {
  const cases: Array<[string, Partial<StorageConfig>, RegExp]> = [
    ['min above max', { use_ssl: true, ssl_min_version: '1.3', ssl_max_version: '1.2' }, /ssl_min_version/],
    ['unknown version', { use_ssl: true, ssl_max_version: '1.4' }, /ssl_max_version/],
    ['certificate without key', { use_ssl: true, ssl_cert_file: '/tmp/client.crt' }, /ssl_key_file/],
    ['unreadable CA file', { redis_use_ssl: true, ssl_ca_file: '/nonexistent/ca.pem' }, /ssl_ca_file.*\/nonexistent\/ca\.pem/],
    ['malformed address', { addrs: ['no-port-here'] }, /addrs/],
  ];
  it.each(cases)('%s', (_label, fragment, setting) => {
    const attempt = () => createRedisClient(storageConfig(fragment), { lazy: true });
    expect(attempt).toThrow(RedisConfigError);
    expect(attempt).toThrow(setting);
  });

  it('describes the target without secrets', () => {
    const description = describeRedisTarget(storageConfig({ ...sentinel.storage, password: 'hunter2', sentinel_password: 's3cret', use_ssl: true }));
    expect(description).toContain('sentinel master "sluice-master"');
    expect(description).not.toMatch(/hunter2|s3cret/);
  });
});

describe('failover', () => {
  it('Sentinel: the same client follows SENTINEL FAILOVER', async () => {
    const { client } = await connectReady(sentinel.storage);
    await client.del('failover-list');
    await client.rpush('failover-list', 'before');
    const oldMaster = await sentinel.masterAddress();

    const newMaster = await sentinel.failover();
    expect(newMaster).not.toBe(oldMaster);

    const { attempts } = await retryUntil(10_000, () => client.rpush('failover-list', 'after'));
    const onNewMaster = await adminCommand(Number(newMaster.split(':')[1]), ['LRANGE', 'failover-list', '0', '-1']);
    expect((onNewMaster as string[])[0]).toBe('before');
    const landed = expectRetriedWriteAfter(onNewMaster, 'before', 'after', attempts);
    console.log(`[redis-topologies] sentinel: ${oldMaster} → ${newMaster}; write after failover took ${attempts} attempt(s), ${landed} landed`);
    topologiesRun.push('sentinel-failover');
  });

  it('Sentinel: the same client follows the master\'s death', async () => {
    const { client } = await connectReady(sentinel.storage);
    await client.rpush('failover-list', 'before-kill');
    // Replication is asynchronous: without WAIT the kill could lose this write, which is Redis, not the client.
    expect(await client.call('WAIT', '1', '2000')).toBe(1);
    const oldMaster = await sentinel.masterAddress();

    const newMaster = await sentinel.killMaster();
    const { attempts } = await retryUntil(10_000, () => client.rpush('failover-list', 'after-kill'));
    const onNewMaster = await adminCommand(Number(newMaster.split(':')[1]), ['LRANGE', 'failover-list', '0', '-1']);
    const landed = expectRetriedWriteAfter(onNewMaster, 'before-kill', 'after-kill', attempts);
    console.log(`[redis-topologies] sentinel: killed ${oldMaster}, promoted ${newMaster}; write took ${attempts} attempt(s), ${landed} landed`);
    topologiesRun.push('sentinel-master-killed');
  });

  it('Sentinel: the client reaches the new master while the sentinel it asks first hangs', async () => {
    // A deployment of its own: the shared one has lost a master above.
    const deployment = await started(startSentinel());
    // timeout 4 s: a lookup at the frozen sentinel hangs that long, so the +switch-master notice of the
    // failover arrives in the middle of one (the case that ended ioredis' client for good).
    const { client } = await connectReady({ ...deployment.storage, timeout: 4 });
    await client.rpush('failover-list', 'before-kill');
    expect(await client.call('WAIT', '1', '2000')).toBe(1);

    const thaw = deployment.freezeSentinel(0);
    try {
      const newMaster = await deployment.killMaster();
      const { attempts } = await retryUntil(20_000, () => client.rpush('failover-list', 'after-kill'));
      const onNewMaster = await adminCommand(Number(newMaster.split(':')[1]), ['LRANGE', 'failover-list', '0', '-1']);
      expect((onNewMaster as string[])[0]).toBe('before-kill');
      const landed = expectRetriedWriteAfter(onNewMaster, 'before-kill', 'after-kill', attempts);
      expect(client.status).toBe('ready');
      console.log(`[redis-topologies] sentinel: master killed with a sentinel frozen, promoted ${newMaster}; write took ${attempts} attempt(s), ${landed} landed`);
      topologiesRun.push('sentinel-hung-sentinel');
    } finally {
      thaw();
    }
  });

  it('Sentinel: a client Sluice closes stays closed (quit or disconnect)', async () => {
    const quitting = (await connectReady(sentinel.storage)).client;
    const disconnecting = (await connectReady(sentinel.storage)).client;
    await quitting.quit();
    disconnecting.disconnect();
    // Longer than the first reconnect delay (100 ms) a client that ended unasked would wait.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([quitting.status, disconnecting.status]).toEqual(['end', 'end']);
  });

  it('Cluster: the client follows MOVED after a manual failover', async () => {
    const { client } = await connectReady(cluster.storage);
    await exerciseClaimCommands(client);

    const { demoted, promoted } = await cluster.failoverMasterOf(SOURCE_KEY);
    // The client's slot map still names the demoted node (ioredis refreshes it only on errors here), which
    // now redirects: the next command must follow MOVED.
    await expect(adminCommand(Number(demoted.split(':')[1]), ['RPUSH', SOURCE_KEY, 'x'])).rejects.toThrow(/^MOVED/);
    await exerciseClaimCommands(client);
    console.log(`[redis-topologies] cluster: manual failover ${demoted} → ${promoted}; commands followed MOVED`);
    topologiesRun.push('cluster-moved');
  });

  it('Cluster: commands to a killed master\'s slots succeed once its replica is promoted', async () => {
    const { client } = await connectReady(cluster.storage);
    await exerciseClaimCommands(client);

    const { killed, promoted } = await cluster.killMasterOf(SOURCE_KEY);
    const { attempts } = await retryUntil(15_000, () => exerciseClaimCommands(client));
    expect(await cluster.masterFor(SOURCE_KEY)).toBe(promoted);
    console.log(`[redis-topologies] cluster: killed ${killed}, promoted ${promoted}; claim commands took ${attempts} attempt(s)`);
    topologiesRun.push('cluster-failover');
  });
});
