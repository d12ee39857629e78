import type { PumpConfig, UptimePumpConfig } from '../src/config/types.js';
import type { AnalyticsRecord } from '../src/record/analytics-record.js';
import type { UptimeRecord } from '../src/record/uptime-record.js';
import type { SinkContext } from './context.js';
import type { Sink } from './sink.js';
import { createSqlSink } from './postgres/index.js';

type AnalyticsSinkFactory = (pump: PumpConfig, ctx: SinkContext) => Sink<AnalyticsRecord>;

/** Pump type (as in pump.conf, lower-cased) to the sink that implements it. */
const ANALYTICS_SINKS: Record<string, AnalyticsSinkFactory> = {
  sql: createSqlSink,
};

export function createAnalyticsSink(pump: PumpConfig, ctx: SinkContext): Sink<AnalyticsRecord> {
  const factory = ANALYTICS_SINKS[pump.type];
  if (!factory) throw new Error(`pump type ${pump.type} has no sink`); // the config loader rejects it first
  return factory(pump, ctx);
}

/** The uptime sink `uptime_pump_config` asks for. */
export function createUptimeSink(_uptime: UptimePumpConfig, _ctx: SinkContext): Sink<UptimeRecord> {
  throw new Error('uptime sinks are not wired yet');
}
