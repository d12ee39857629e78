import { afterAll, beforeAll, beforeEach } from 'vitest';
import { freshDatabase, type TestDatabase } from './postgres.js';

/** A database for one file's sink tests: every test starts on an empty schema, with no sink left open. */
export interface SinkDatabase {
  /** There once beforeAll has run. */
  readonly db: TestDatabase;
  /** Keeps a sink to close before the next test, and at the end. */
  opened<S extends { close(): Promise<void> }>(sink: S): S;
  /** The tyk_* tables of the public schema, by name. */
  tables(): Promise<string[]>;
}

/** Registers the file's setup and teardown. */
export function sinkDatabase(label: string): SinkDatabase {
  const open: Array<{ close(): Promise<void> }> = [];
  const closeAll = () => Promise.all(open.splice(0).map((s) => s.close()));
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await freshDatabase(label);
  });
  beforeEach(async () => {
    await closeAll();
    await db!.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  });
  afterAll(async () => {
    await closeAll();
    await db?.drop();
  });
  return {
    get db() {
      return db!;
    },
    opened(sink) {
      open.push(sink);
      return sink;
    },
    async tables() {
      const result = await db!.pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tyk_%' ORDER BY 1`);
      return result.rows.map((r) => r.tablename as string);
    },
  };
}
