import type pg from 'pg';
import { quoteIdent } from './columns.js';
import { sqlStatement } from './sql.js';

const LIST_DAILY_SHARDS = sqlStatement(import.meta.url, 'list-daily-shards');
const DROP_SHARD = sqlStatement(import.meta.url, 'drop-shard');

export interface DailyShard {
  readonly table: string;
  /** Unix milliseconds of the start of the shard's UTC day. */
  readonly dayStartMs: number;
}

/** The UTC day a `YYYYMMDD` suffix names, or undefined when it is no calendar date (`20240231`). */
function dayStartMs(suffix: string): number | undefined {
  const [year, month, day] = [Number(suffix.slice(0, 4)), Number(suffix.slice(4, 6)), Number(suffix.slice(6, 8))];
  const start = new Date(0);
  start.setUTCFullYear(year, month - 1, day);
  const valid = start.getUTCFullYear() === year && start.getUTCMonth() === month - 1 && start.getUTCDate() === day;
  return valid ? start.getTime() : undefined;
}

/** Existing `<base>_YYYYMMDD` tables whose suffix is a real date, oldest first. */
export async function listDailyShards(pool: pg.Pool, baseTable: string): Promise<DailyShard[]> {
  const { rows } = await pool.query<{ tablename: string }>(LIST_DAILY_SHARDS, [baseTable]);
  const shards: DailyShard[] = [];
  for (const { tablename } of rows) {
    const start = dayStartMs(tablename.slice(-8));
    if (start !== undefined) shards.push({ table: tablename, dayStartMs: start });
  }
  return shards;
}

const DAY_MS = 86_400_000;

/**
 * Drops the daily shards of `baseTable` whose whole day lies more than `retentionDays` days before the
 * start of today (UTC), and returns their names. With retention 7 on 2024-06-10, 2024-06-03 is kept and
 * 2024-06-02 goes. A retention below 1 keeps everything.
 */
export async function dropExpiredShards(pool: pg.Pool, baseTable: string, retentionDays: number, now: Date): Promise<string[]> {
  if (!(retentionDays >= 1)) return [];
  const todayStartMs = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const oldestKeptMs = todayStartMs - Math.floor(retentionDays) * DAY_MS;
  const dropped: string[] = [];
  for (const shard of await listDailyShards(pool, baseTable)) {
    if (shard.dayStartMs >= oldestKeptMs) continue;
    await pool.query(DROP_SHARD.replace('$TABLE', quoteIdent(shard.table)));
    dropped.push(shard.table);
  }
  return dropped;
}
