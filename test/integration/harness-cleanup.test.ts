import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { OWNER, ownerOf } from '../harness/owner.js';
import { ADMIN_URL, databaseName, dropAbandonedDatabases } from '../harness/postgres.js';
import { deleteAbandonedKeys, redisClient, uniquePrefix } from '../harness/redis.js';

/*
 * The harness drops the databases and keys that killed tests and benchmarks left behind: only those whose
 * process has ended, and only those whose pid belongs to this host's pid space (owner.ts).
 */

const HOST = OWNER.split('.')[0]!;
/** The pid space tag of some other machine or container. */
const OTHER_HOST = HOST === 'ffffff' ? '000000' : 'ffffff';

describe('abandoned test databases', () => {
  it('are dropped when their process has ended, and kept when it runs or ran elsewhere', async () => {
    const ended = spawnSync(process.execPath, ['-e', '']).pid;
    const label = `cleanup${Date.now().toString(36)}`;
    const names = {
      ended: databaseName(label, ownerOf(HOST, ended)),
      running: databaseName(label, ownerOf(HOST, process.pid)),
      elsewhere: databaseName(label, ownerOf(OTHER_HOST, ended)),
    };
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      for (const name of Object.values(names)) await admin.query(`CREATE DATABASE ${name}`);
      const dropped = await dropAbandonedDatabases();
      // Another test file's first freshDatabase may have dropped it already: either way it is gone.
      expect(dropped.filter((name) => name.includes(label))).toEqual(dropped.includes(names.ended) ? [names.ended] : []);
      const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`sluice\\_${label}\\_%`]);
      expect(rows.map((r) => r.datname).sort()).toEqual([names.elsewhere, names.running].sort());
    } finally {
      for (const name of Object.values(names)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('are named so that PostgreSQL keeps the owner: a label that would push it past 63 characters is refused', () => {
    expect(databaseName('x'.repeat(20))).toMatch(new RegExp(`^sluice_x{20}_${OWNER.replace('.', '_')}_[0-9a-f]{8}$`));
    expect(() => databaseName('x'.repeat(40))).toThrow(/label too long/);
  });
});

describe('abandoned test keys', () => {
  const redis = redisClient();
  afterAll(() => redis.quit());

  it('are deleted when their process has ended, whatever Sluice or BullMQ made of the prefix', async () => {
    const ended = spawnSync(process.execPath, ['-e', '']).pid;
    const tag = Date.now().toString(16).slice(-6).padStart(6, '0');
    const endedPrefix = `t-cleanup-${HOST}.${ended}-${tag}-`;
    const elsewherePrefix = `t-cleanup-${OTHER_HOST}.${ended}-${tag}-`;
    const ownPrefix = uniquePrefix('cleanup');
    const keysOf = (prefix: string) => [
      `${prefix}tyk-system-analytics_3`, `staged:${prefix}tyk-system-analytics_3`, `{${prefix}tyk-system-analytics_3}:inflight`,
      `{sluice}:retry-${prefix}sql:meta`,
    ];
    const all = [...keysOf(endedPrefix), ...keysOf(elsewherePrefix), ...keysOf(ownPrefix)];
    try {
      for (const key of all) await redis.rpush(key, 'x');
      await deleteAbandonedKeys();
      const left = await Promise.all(all.map(async (key) => [key, await redis.exists(key)] as const));
      expect(left.filter(([, n]) => n === 1).map(([key]) => key)).toEqual([...keysOf(elsewherePrefix), ...keysOf(ownPrefix)]);
    } finally {
      await redis.del(...all);
    }
  });
});
