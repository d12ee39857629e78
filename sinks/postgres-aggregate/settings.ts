import { SinkError } from '../sink.js';
import type { AggregateTableSettings } from './aggregate-table-sink.js';
import { metaBoolean, metaPositiveInteger, metaString, type Meta } from './meta.js';

/** Tyk's SQLDefaultQueryBatchSize. */
export const DEFAULT_BATCH_SIZE = 1000;

/**
 * The SQL options Tyk's sql_aggregate and SQL uptime pumps share (reference §7.1). `where` names the
 * object in pump.conf (`meta`, `uptime_pump_config`) so an error points at the key to fix.
 */
export function readSqlSettings(sink: string, meta: Meta, where: string): AggregateTableSettings {
  const type = meta.type;
  if (type !== 'postgres') {
    throw new SinkError(sink, `${where}.type: ${JSON.stringify(type ?? '')} is not supported; Sluice writes SQL aggregates to "postgres" only`, false, {
      context: { key: `${where}.type` },
    });
  }
  const connectionString = metaString(meta, 'connection_string');
  if (connectionString.trim() === '') {
    throw new SinkError(sink, `${where}.connection_string is empty`, false, { context: { key: `${where}.connection_string` } });
  }
  return {
    connectionString,
    tableSharding: metaBoolean(meta, 'table_sharding'),
    batchSize: metaPositiveInteger(meta, 'batch_size', DEFAULT_BATCH_SIZE),
    omitIndexCreation: metaBoolean(meta, 'omit_index_creation'),
    migrateShardedTables: metaBoolean(meta, 'migrate_sharded_tables'),
  };
}
