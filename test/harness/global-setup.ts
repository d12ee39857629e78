import { deleteAbandonedKeys } from './redis.js';
import { chooseServiceMode, dockerReachable, startContainerServices, type StartedServices } from './services.js';

let started: StartedServices | undefined;

/* Runs once before the suite: picks where services come from and says so, so the output shows where checks ran. */
export async function setup(): Promise<void> {
  const mode = chooseServiceMode({ requested: process.env.SLUICE_TEST_SERVICES, dockerReachable: await dockerReachable() });
  if (mode === 'containers') {
    started = await startContainerServices();
    Object.assign(process.env, started.env);
  } else {
    const deleted = await deleteAbandonedKeys();
    if (deleted > 0) console.log(`[sluice tests] deleted ${deleted} keys that killed runs had left in Redis`);
  }
  const mongo = process.env.MONGO_URL ? 'MongoDB at MONGO_URL' : 'CongoDB (in-process MongoDB wire server; capped/TTL/unique/transaction checks by command monitoring)';
  console.log(`[sluice tests] services: ${mode === 'containers' ? 'testcontainers (Docker engine found)' : 'local (no Docker engine)'}; Redis ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}; PostgreSQL ${process.env.SLUICE_TEST_PG_URL ?? '127.0.0.1:5432'}; Mongo: ${mongo}`);
}

/**
 * BullMQ creates a retry queue's keys (`…:meta` and others) on its own, so tests cannot delete them one by
 * one; they are swept here with the rest of what this run's test processes, now ended, left behind. Keys
 * of a run still going on (another suite, a benchmark) are not touched.
 */
export async function teardown(): Promise<void> {
  if (started) {
    await started.stop();
    return;
  }
  await deleteAbandonedKeys();
}
