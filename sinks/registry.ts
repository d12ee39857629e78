import type { PumpConfig, UptimePumpConfig } from '../src/config/types.js';
import type { AnalyticsRecord } from '../src/record/analytics-record.js';
import type { UptimeRecord } from '../src/record/uptime-record.js';
import type { SinkContext } from './context.js';
import type { Sink } from './sink.js';
type AnalyticsSinkFactory = (pump: PumpConfig, ctx: SinkContext) => Sink<AnalyticsRecord>;

/**
 * Pump type (as in pump.conf, lower-cased) to the module of the sink that implements it; the config schema
 * lists the same types. Modules load only for the pumps configured: the MongoDB driver alone is a fifth of
 * a worker's start-up, and a PostgreSQL-only worker has no use for it.
 */
const ANALYTICS_SINKS: Record<string, () => Promise<AnalyticsSinkFactory>> = {
  sql: async () => (await import('./postgres/index.js')).createSqlSink,
  sql_aggregate: async () => (await import('./postgres-aggregate/index.js')).createSqlAggregateSink,
  mongo: async () => (await import('./mongo/index.js')).createMongoSink,
  'mongo-pump-selective': async () => (await import('./mongo-selective/index.js')).createMongoSelectiveSink,
  'mongo-pump-aggregate': async () => {
    const { createMongoAggregateSink } = await import('./mongo-aggregate/index.js');
    return (pump, ctx) => createMongoAggregateSink(pump, ctx, {
      onFolded: (e) => ctx.metrics?.foldedDimensions.inc({ sink: e.sink, dimension: e.dimension }, e.entries),
    });
  },
};

export async function createAnalyticsSink(pump: PumpConfig, ctx: SinkContext): Promise<Sink<AnalyticsRecord>> {
  const load = ANALYTICS_SINKS[pump.type];
  // The config loader accepts only the types of the schema, which are these.
  if (!load) throw new Error(`pump type ${pump.type} has no sink`);
  return (await load())(pump, ctx);
}

/** The uptime sink `uptime_pump_config` asks for: MongoDB unless `uptime_type` is `sql`. */
export async function createUptimeSink(uptime: UptimePumpConfig, ctx: SinkContext): Promise<Sink<UptimeRecord>> {
  if (uptime.uptime_type === 'sql') return (await import('./uptime/postgres/index.js')).createSqlUptimeSink(uptime, ctx);
  return (await import('./uptime/mongo/index.js')).createMongoUptimeSink(uptime, ctx);
}
