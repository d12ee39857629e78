import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageConfig } from '../../src/config/types.js';
import { createRedisClient, waitUntilReady, type RedisClient } from '../../src/source/redis-connection.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { startMongo, type MongoTestServer } from '../harness/mongo.js';
import {
  createTestCertificates, startCluster, startSentinel, startStandalone, startTls, storageConfig,
  type RedisDeployment, type TestCertificates,
} from '../harness/redis-servers.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig, recentLog } from '../harness/sluice.js';
import { gatewayTraffic, multiset, pushTraffic, rowsByPath, total, undrainedKeys } from '../harness/gateway-traffic.js';

/*
 * Every topology Sluice supports (DESIGN.md "Sources and topologies"), end to end: a sluice process drains
 * all 23 gateway lists of a real deployment — msgpack on the 11 plain keys, protobuf on the 11 `_protobuf`
 * keys, host-checker reports on the uptime key — into tyk_analytics and the Mongo uptime collection, and
 * each record lands exactly once.
 */

const ANALYTICS_RECORDS = 22 * 40;
const UPTIME_REPORTS = 60;

let db: TestDatabase;
let mongo: MongoTestServer;
let certificates: TestCertificates;

beforeAll(async () => {
  [db, mongo, certificates] = await Promise.all([freshDatabase('topologies'), startMongo('topologies'), createTestCertificates()]);
});

afterAll(async () => {
  await Promise.all([db?.drop(), mongo?.stop()]);
  if (certificates) rmSync(certificates.dir, { recursive: true, force: true });
});

const TOPOLOGIES: Array<[label: string, start: () => Promise<RedisDeployment>]> = [
  ['standalone', () => startStandalone()],
  ['tls', () => startTls({ certificates })],
  ['mtls', () => startTls({ certificates, requireClientCert: true })],
  ['sentinel', () => startSentinel()],
  ['cluster', () => startCluster()],
];

async function gatewayClient(storage: StorageConfig): Promise<RedisClient> {
  const client = createRedisClient(storage, { name: 'test-gateway', onError: () => undefined });
  await waitUntilReady(client, storage, 10_000);
  return client;
}

async function uptimeUrls(collection: string): Promise<string[]> {
  const docs = await mongo.db.collection(collection).find({}, { projection: { url: 1 } }).toArray();
  return docs.map((d) => d.url as string);
}

async function pumpConfig(storage: StorageConfig, uptimeCollection: string): Promise<string> {
  return writeConfig(sqlPumpConfig({
    prefix: storage.key_prefix,
    pgUrl: db.url,
    port: await freePort(),
    extra: {
      analytics_storage_config: storage,
      dont_purge_uptime_data: false,
      uptime_pump_config: { uptime_type: 'mongo', mongo_url: mongo.url, collection_name: uptimeCollection },
    },
  }));
}

describe('all 23 gateway lists, every topology, exactly once into PostgreSQL and Mongo', () => {
  it.each(TOPOLOGIES)('%s', { timeout: 90_000 }, async (label, start) => {
    const deployment = await start();
    const storage = storageConfig(deployment.storage);
    const gateway = await gatewayClient(storage);
    const collection = `uptime_${label}`;
    try {
      const traffic = gatewayTraffic(storage.key_prefix, label, { analytics: ANALYTICS_RECORDS, uptime: UPTIME_REPORTS });
      await pushTraffic(gateway, traffic.byKey);
      const began = Date.now();
      const sluice = startSluice(['--conf', await pumpConfig(storage, collection)]);
      try {
        await waitFor(async () =>
          total(await rowsByPath(db, label)) >= traffic.paths.length
          && (await uptimeUrls(collection)).length >= traffic.urls.length
          && (await undrainedKeys(gateway, traffic.byKey.keys())).length === 0, 60_000, `${label}: every record`);
      } catch (err) {
        console.log(recentLog(sluice));
        throw err;
      } finally {
        sluice.kill('SIGTERM');
      }
      expect(await sluice.exited).toBe(0);
      console.log(`[topologies] ${label}: ${traffic.paths.length} analytics records (msgpack + protobuf) and ${traffic.urls.length} uptime reports delivered in ${Date.now() - began} ms`);

      const rows = await rowsByPath(db, label);
      expect(rows.size).toBe(traffic.paths.length);
      expect(rows).toEqual(multiset(traffic.paths));
      expect(multiset(await uptimeUrls(collection))).toEqual(multiset(traffic.urls));
    } finally {
      gateway.disconnect();
      await deployment.stop();
    }
  });
});
