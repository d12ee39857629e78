import pg from 'pg';
import { randomBytes } from 'node:crypto';

/** A database of its own for one test file, so files can run in parallel against one server. */
export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

const ADMIN_URL = process.env.SLUICE_TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

export async function freshDatabase(label: string): Promise<TestDatabase> {
  const name = `sluice_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  // pool.end() resolves before its clients' sockets have closed; a client still open when DROP … WITH
  // (FORCE) terminates it would emit an error nobody listens to, and fail whichever test runs then.
  const open = new Set<pg.PoolClient>();
  pool.on('connect', (client) => {
    open.add(client);
    client.once('end', () => open.delete(client));
  });
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      await Promise.all([...open].map((client) => new Promise((resolve) => {
        client.once('end', resolve);
        setTimeout(resolve, 2_000).unref();
      })));
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
