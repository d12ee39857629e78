import { existsSync } from 'node:fs';

/*
 * Where the suite's Redis, PostgreSQL and MongoDB come from, decided once per run (test/harness/global-setup.ts):
 * - `containers`: a Docker engine is reachable, so testcontainers starts Redis, PostgreSQL and a single-node
 *   MongoDB replica set (transactions, capped collections, TTL and unique indexes behave for real). They
 *   bind the standard local ports, so tests address them exactly as they address local services.
 * - `local`: the services already running on this machine (Redis 6379, PostgreSQL 5432) and, for MongoDB,
 *   `MONGO_URL` or the in-process CongoDB server.
 * SLUICE_TEST_SERVICES=local|containers overrides the detection.
 */

export type ServiceMode = 'containers' | 'local';

export interface ServiceSignals {
  /** SLUICE_TEST_SERVICES, if set. */
  requested: string | undefined;
  dockerReachable: boolean;
}

export function chooseServiceMode(signals: ServiceSignals): ServiceMode {
  if (signals.requested === 'local' || signals.requested === 'containers') return signals.requested;
  if (signals.requested !== undefined && signals.requested !== '') {
    throw new Error(`SLUICE_TEST_SERVICES must be "local" or "containers", not ${JSON.stringify(signals.requested)}`);
  }
  return signals.dockerReachable ? 'containers' : 'local';
}

/** A Docker engine answers: only tried when a socket or DOCKER_HOST says one may exist. */
export async function dockerReachable(env: NodeJS.ProcessEnv = process.env, socket = '/var/run/docker.sock'): Promise<boolean> {
  if (!env.DOCKER_HOST && !existsSync(socket)) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export interface StartedServices {
  /** Variables the tests read: REDIS_URL, SLUICE_TEST_PG_URL, MONGO_URL. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Redis, PostgreSQL and a MongoDB replica set in containers, on the standard local ports. */
export async function startContainerServices(): Promise<StartedServices> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const redis = await new GenericContainer('redis:7.4')
    .withExposedPorts({ container: 6379, host: 6379 })
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .start();
  const postgres = await new GenericContainer('postgres:16')
    .withExposedPorts({ container: 5432, host: 5432 })
    .withEnvironment({ POSTGRES_USER: 'root', POSTGRES_DB: 'test', POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const mongo = await new GenericContainer('mongo:7')
    .withExposedPorts({ container: 27017, host: 27017 })
    .withCommand(['--replSet', 'rs0', '--bind_ip_all'])
    .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
    .start();
  await mongo.exec(['mongosh', '--quiet', '--eval', "rs.initiate({_id: 'rs0', members: [{_id: 0, host: '127.0.0.1:27017'}]})"]);
  return {
    env: {
      REDIS_URL: 'redis://127.0.0.1:6379',
      SLUICE_TEST_PG_URL: 'postgres://root@127.0.0.1:5432/test',
      MONGO_URL: 'mongodb://127.0.0.1:27017/?replicaSet=rs0&directConnection=true',
    },
    async stop() {
      await Promise.all([redis.stop(), postgres.stop(), mongo.stop()]);
    },
  };
}
