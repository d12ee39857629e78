import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { buildIndexConcurrently } from '../../sinks/postgres/concurrent-index.js';
import { SqlSink } from '../../sinks/postgres/sql-sink.js';
import { createLogger } from '../../src/log/logger.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';

/*
 * Indexes built with CREATE INDEX CONCURRENTLY on a table that already holds data (the unsharded tables at
 * open). A build that fails, as when workers started together deadlock on their builds, leaves an invalid
 * index that IF NOT EXISTS alone would keep for ever; a build in progress is also invalid until it ends and
 * must be left alone.
 */

const INDEX = 'events_idx_kind';
const CREATE = `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX} ON events (kind)`;

let db: TestDatabase;

beforeEach(async () => {
  db = await freshDatabase('concurrent_index');
  await db.pool.query(`CREATE TABLE events (kind text)`);
  await db.pool.query(`INSERT INTO events SELECT 'k' || (i % 10) FROM generate_series(1, 1000) AS i`);
});

afterEach(async () => {
  await db.drop();
});

async function indexState(): Promise<{ valid: boolean; unique: boolean } | undefined> {
  const { rows } = await db.pool.query(`SELECT indisvalid AS valid, indisunique AS unique FROM pg_index WHERE indexrelid = to_regclass($1)`, [INDEX]);
  return rows[0];
}

describe('buildIndexConcurrently', () => {
  it('builds a missing index, and leaves a valid one as it is', async () => {
    expect(await buildIndexConcurrently(db.pool, INDEX, CREATE)).toBe('built');
    expect(await indexState()).toEqual({ valid: true, unique: false });
    expect(await buildIndexConcurrently(db.pool, INDEX, CREATE)).toBe('valid');
  });

  it('drops and builds again an index a failed concurrent build left invalid', async () => {
    // A unique build over duplicate values fails after creating its catalog entry: an invalid index.
    await expect(db.pool.query(`CREATE UNIQUE INDEX CONCURRENTLY ${INDEX} ON events (kind)`)).rejects.toThrow(/could not create unique index/);
    expect(await indexState()).toEqual({ valid: false, unique: true });
    // What IF NOT EXISTS alone does: nothing.
    await db.pool.query(CREATE);
    expect((await indexState())?.valid).toBe(false);

    expect(await buildIndexConcurrently(db.pool, INDEX, CREATE)).toBe('rebuilt');
    expect(await indexState()).toEqual({ valid: true, unique: false });
  });

  it('leaves an index whose build is still running to its builder', async () => {
    // A writer's open transaction holds the other build back, with its index created and invalid.
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query(`BEGIN; INSERT INTO events VALUES ('late')`);
      const otherBuild = db.pool.query(CREATE);
      await expect.poll(async () => (await indexState())?.valid, { timeout: 10_000 }).toBe(false);

      expect(await buildIndexConcurrently(db.pool, INDEX, CREATE)).toBe('left to its builder');

      await writer.query('COMMIT');
      await otherBuild;
      expect(await indexState()).toEqual({ valid: true, unique: false });
    } finally {
      await writer.end();
    }
  });

  it('cancels its build on the server when aborted, leaving an invalid index the next call rebuilds', async () => {
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query(`BEGIN; INSERT INTO events VALUES ('late')`);
      const closing = new AbortController();
      const build = buildIndexConcurrently(db.pool, INDEX, CREATE, closing.signal);
      await expect.poll(async () => (await indexState())?.valid, { timeout: 10_000 }).toBe(false);
      closing.abort();
      await expect(build).rejects.toThrow(/canceling statement/);
      await writer.query('COMMIT');
      expect((await indexState())?.valid).toBe(false);

      expect(await buildIndexConcurrently(db.pool, INDEX, CREATE)).toBe('rebuilt');
      expect(await indexState()).toEqual({ valid: true, unique: false });
    } finally {
      await writer.end();
    }
  });

  it('a sql sink closing while its index builds wait cancels them instead of waiting', async () => {
    const options = { name: 'SQL', connectionString: db.url, tableName: 'tyk_analytics', tableSharding: false, logger: createLogger({ level: 'silent' }) };
    const creator = new SqlSink({ ...options, omitIndexCreation: true });
    await creator.open();
    await creator.close();
    // The unsharded table's indexes are built concurrently at open; a writer's open transaction holds them back.
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query(`BEGIN; INSERT INTO tyk_analytics (method) VALUES ('GET')`);
      const reopened = new SqlSink({ ...options, omitIndexCreation: false });
      await reopened.open();
      await expect.poll(async () => (await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_progress_create_index`)).rows[0].n, { timeout: 10_000 }).toBe(1);
      const started = Date.now();
      await reopened.close();
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await writer.query('ROLLBACK');
      await writer.end();
    }
  });
});
