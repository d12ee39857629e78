import type { PumpConfig, UptimePumpConfig } from '../src/config/types.js';
import { ConfigError } from '../src/config/config-error.js';
import type { AnalyticsRecord } from '../src/record/analytics-record.js';
import type { UptimeRecord } from '../src/record/uptime-record.js';
import type { SinkContext } from './context.js';
import type { Sink } from './sink.js';
import { createSqlSink } from './postgres/index.js';
import { createMongoSink } from './mongo/index.js';
import { createMongoSelectiveSink } from './mongo-selective/index.js';
import { createMongoUptimeSink } from './uptime/mongo/index.js';

type AnalyticsSinkFactory = (pump: PumpConfig, ctx: SinkContext) => Sink<AnalyticsRecord>;

/** Pump type (as in pump.conf, lower-cased) to the sink that implements it. */
const ANALYTICS_SINKS: Record<string, AnalyticsSinkFactory> = {
  sql: createSqlSink,
  mongo: createMongoSink,
  'mongo-pump-selective': createMongoSelectiveSink,
};

function notImplemented(path: string, what: string): ConfigError {
  return new ConfigError([{ path, message: `${what} is not implemented in this build; implemented pump types: ${Object.keys(ANALYTICS_SINKS).join(', ')}` }]);
}

export function createAnalyticsSink(pump: PumpConfig, ctx: SinkContext): Sink<AnalyticsRecord> {
  const factory = ANALYTICS_SINKS[pump.type];
  if (!factory) throw notImplemented(`pumps.${pump.name}.type`, `pump type "${pump.type}"`);
  return factory(pump, ctx);
}

/** The uptime sink `uptime_pump_config` asks for: MongoDB unless `uptime_type` is `sql`. */
export function createUptimeSink(uptime: UptimePumpConfig, ctx: SinkContext): Sink<UptimeRecord> {
  if (uptime.uptime_type === 'sql') throw notImplemented('uptime_pump_config.uptime_type', 'uptime_type "sql"');
  return createMongoUptimeSink(uptime, ctx);
}
