import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from './postgres.js';
import { redisClient, uniquePrefix } from './redis.js';

/** The services one test file owns: its database, a Redis client, its key prefix and dead-letter key. */
export interface FileServices {
  readonly db: TestDatabase;
  readonly redis: Redis;
  readonly prefix: string;
  /** Outside the prefix, so "every key of the prefix is gone" does not wait for the dead letters. */
  readonly deadLetterKey: string;
}

/** Registers the file's setup and teardown; `db` and `redis` are there once beforeAll has run. */
export function fileServices(label: string): FileServices {
  const prefix = uniquePrefix(label);
  const services = { prefix, deadLetterKey: `dlq-${prefix}` } as { -readonly [K in keyof FileServices]: FileServices[K] };
  beforeAll(async () => {
    services.db = await freshDatabase(label);
    services.redis = redisClient();
  });
  afterAll(async () => {
    await services.redis.del(services.deadLetterKey);
    await services.redis.quit();
    await services.db.drop();
  });
  return services;
}
