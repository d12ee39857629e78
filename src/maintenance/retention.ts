import pg from 'pg';
import type { Logger } from '../log/logger.js';
import type { PumpConfiguration } from '../config/types.js';
import { errorMessage } from '../errors.js';
import { sleep } from '../delivery/backoff.js';
import { dropExpiredShards } from '../../sinks/postgres/retention.js';
import { pruneLedger } from '../../sinks/postgres/ledger.js';
import { pgClientConfig } from '../../sinks/postgres/connection-string.js';

/** Ledger rows outlive any redelivery by far: leases are seconds, retry queues hours. */
const LEDGER_KEEP_HOURS = 7 * 24;

interface ShardedTables {
  connectionString: string;
  tables: Set<string>;
}

/** The PostgreSQL databases Sluice writes, each with its daily-sharded base tables. */
function postgresTargets(config: PumpConfiguration): ShardedTables[] {
  const byDsn = new Map<string, ShardedTables>();
  const add = (dsn: unknown, table: string, sharded: unknown) => {
    if (typeof dsn !== 'string' || dsn === '') return;
    const target = byDsn.get(dsn) ?? { connectionString: dsn, tables: new Set<string>() };
    if (sharded === true) target.tables.add(table);
    byDsn.set(dsn, target);
  };
  for (const pump of config.pumps) {
    if (pump.type === 'sql') add(pump.meta.connection_string, 'tyk_analytics', pump.meta.table_sharding);
    if (pump.type === 'sql_aggregate') add(pump.meta.connection_string, 'tyk_aggregated', pump.meta.table_sharding);
  }
  const uptime = config.uptime_pump_config;
  if (!config.dont_purge_uptime_data && uptime.uptime_type === 'sql') add(uptime.connection_string, 'tyk_uptime_analytics', uptime.table_sharding);
  return [...byDsn.values()];
}

async function runOnce(target: ShardedTables, pool: pg.Pool, days: number, logger: Logger): Promise<void> {
  for (const table of target.tables) {
    const dropped = await dropExpiredShards(pool, table, days, new Date());
    if (dropped.length > 0) logger.info({ table, dropped, retentionDays: days }, 'dropped daily shards past retention');
  }
  const pruned = await pruneLedger(pool, LEDGER_KEEP_HOURS);
  if (pruned > 0) logger.debug({ pruned }, 'pruned old applied-batch ledger rows');
}

/**
 * Capping for PostgreSQL (`sluice.retention_days`): on a schedule, drops daily shards older than the
 * retention, and prunes the applied-batches ledger. Runs until `signal` aborts.
 */
export async function runRetention(config: PumpConfiguration, logger: Logger, signal: AbortSignal): Promise<void> {
  const days = config.sluice.retention_days;
  const targets = postgresTargets(config);
  if (targets.length === 0) return;
  const pools = targets.map((t) => new pg.Pool({ ...pgClientConfig(t.connectionString), max: 1 }));
  pools.forEach((p) => p.on('error', (err) => logger.warn({ err: err.message }, 'idle retention connection failed')));
  try {
    while (!signal.aborted) {
      for (const [i, target] of targets.entries()) {
        await runOnce(target, pools[i]!, days, logger)
          .catch((err) => logger.warn({ err: errorMessage(err) }, 'retention run failed; will try again'));
      }
      await sleep(config.sluice.retention_interval_seconds * 1000, signal);
    }
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
}
