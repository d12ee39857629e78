import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { OWNER, isAbandoned, ownerOf } from './owner.js';

/** A database of its own for one test file, so files can run in parallel against one server. */
export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export const ADMIN_URL = process.env.SLUICE_TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

/*
 * A test or benchmark that is killed never drops its database (a benchmark's holds hundreds of MB). Each
 * database's name carries the process that made it (owner.ts), so no kill can come between creating it and
 * saying whose it is; the first freshDatabase of a process drops those whose process has ended.
 */

/** PostgreSQL cuts longer names short, and with them the owner at their end. */
const MAX_NAME_LENGTH = 63;

/** `sluice_<label>_<owner>_<random>`, the owner (`<pid space>.<pid>`) written `<pid space>_<pid>`. */
export function databaseName(label: string, owner = OWNER): string {
  const name = `sluice_${label}_${owner.replace('.', '_')}_${randomBytes(4).toString('hex')}`;
  if (name.length > MAX_NAME_LENGTH) throw new Error(`test database label too long: ${label}`);
  return name;
}

const NAMED_OWNER = /_([0-9a-f]{6})_(\d+)_[0-9a-f]{8}$/;

/** Drops the test databases whose process has ended; returns their names. */
export async function dropAbandonedDatabases(): Promise<string[]> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ name: string }>(`SELECT datname AS name FROM pg_database WHERE datname LIKE 'sluice\\_%'`);
    const abandoned = rows.filter(({ name }) => {
      const owner = NAMED_OWNER.exec(name);
      return owner !== null && isAbandoned(ownerOf(owner[1]!, Number(owner[2])));
    });
    for (const { name } of abandoned) await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
    return abandoned.map(({ name }) => name);
  } finally {
    await admin.end();
  }
}

/**
 * A pool whose `end` also waits for its clients' sockets to close. pool.end() resolves before they have;
 * a client still open when DROP … WITH (FORCE) terminates it would emit an error nobody listens to, and
 * fail whichever test runs then.
 */
export function closablePool(config: pg.PoolConfig): { pool: pg.Pool; end(): Promise<void> } {
  const pool = new pg.Pool(config);
  const open = new Set<pg.PoolClient>();
  pool.on('connect', (client) => {
    open.add(client);
    client.once('end', () => open.delete(client));
  });
  const end = async () => {
    await pool.end();
    await Promise.all([...open].map((client) => new Promise((resolve) => {
      client.once('end', resolve);
      setTimeout(resolve, 2_000).unref();
    })));
  };
  return { pool, end };
}

let abandonedDropped: Promise<unknown> | undefined;

export async function freshDatabase(label: string): Promise<TestDatabase> {
  // Leftovers of other runs must not fail this one: a failed sweep is reported, and tried by the next process.
  await (abandonedDropped ??= dropAbandonedDatabases().catch((err: unknown) => {
    console.warn(`[harness] could not drop the databases of ended test processes: ${(err as Error).message}`);
  }));
  const name = databaseName(label);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const { pool, end } = closablePool({ connectionString: url.toString(), max: 4 });
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await end();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
