import type { PumpConfig, UptimePumpConfig } from '../src/config/types.js';
import type { AnalyticsRecord } from '../src/record/analytics-record.js';
import type { UptimeRecord } from '../src/record/uptime-record.js';
import type { SinkContext } from './context.js';
import type { Sink } from './sink.js';
import { createSqlSink } from './postgres/index.js';
import { createSqlAggregateSink } from './postgres-aggregate/index.js';
import { createMongoSink } from './mongo/index.js';
import { createMongoSelectiveSink } from './mongo-selective/index.js';
import { createMongoAggregateSink } from './mongo-aggregate/index.js';
import { createMongoUptimeSink } from './uptime/mongo/index.js';
import { createSqlUptimeSink } from './uptime/postgres/index.js';

type AnalyticsSinkFactory = (pump: PumpConfig, ctx: SinkContext) => Sink<AnalyticsRecord>;

/** Pump type (as in pump.conf, lower-cased) to the sink that implements it; the config schema lists the same types. */
const ANALYTICS_SINKS: Record<string, AnalyticsSinkFactory> = {
  sql: createSqlSink,
  sql_aggregate: createSqlAggregateSink,
  mongo: createMongoSink,
  'mongo-pump-selective': createMongoSelectiveSink,
  'mongo-pump-aggregate': (pump, ctx) => createMongoAggregateSink(pump, ctx, {
    onFolded: (e) => ctx.metrics?.foldedDimensions.inc({ sink: e.sink, dimension: e.dimension }, e.entries),
  }),
};

export function createAnalyticsSink(pump: PumpConfig, ctx: SinkContext): Sink<AnalyticsRecord> {
  const factory = ANALYTICS_SINKS[pump.type];
  // The config loader accepts only the types of the schema, which are these.
  if (!factory) throw new Error(`pump type ${pump.type} has no sink`);
  return factory(pump, ctx);
}

/** The uptime sink `uptime_pump_config` asks for: MongoDB unless `uptime_type` is `sql`. */
export function createUptimeSink(uptime: UptimePumpConfig, ctx: SinkContext): Sink<UptimeRecord> {
  return uptime.uptime_type === 'sql' ? createSqlUptimeSink(uptime, ctx) : createMongoUptimeSink(uptime, ctx);
}
