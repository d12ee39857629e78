import type pg from 'pg';
import { errorMessage } from '../../src/errors.js';
import type { SinkHealth } from '../sink.js';

/** A PostgreSQL sink is healthy when its pool can run a query. */
export async function poolHealth(pool: pg.Pool | undefined): Promise<SinkHealth> {
  if (!pool) return { ok: false, detail: 'not connected' };
  try {
    await pool.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: errorMessage(err) };
  }
}
