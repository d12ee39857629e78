import type { PumpConfig } from '../../src/config/types.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { Sink } from '../sink.js';
import type { SinkContext } from '../context.js';
import { SqlSink } from './sql-sink.js';

/** Tyk's `sql` pump (meta `type: postgres`). */
export function createSqlSink(pump: PumpConfig, ctx: SinkContext): Sink<AnalyticsRecord> {
  const meta = pump.meta as { connection_string: string; table_sharding: boolean; table_name?: string; omit_index_creation?: boolean };
  return new SqlSink({
    name: pump.name,
    connectionString: meta.connection_string,
    tableName: meta.table_name || 'tyk_analytics',
    tableSharding: meta.table_sharding,
    omitIndexCreation: meta.omit_index_creation ?? false,
    logger: ctx.logger,
  });
}
