import type { PumpConfig } from '../../src/config/types.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { SinkContext } from '../context.js';
import type { Sink } from '../sink.js';
import type { MongoSinkHooks } from '../mongo/connection.js';
import { MongoSelectiveSink, readSelectiveSettings } from './selective-sink.js';

/** Tyk's `mongo-pump-selective`: raw records in one collection per org. */
export function createMongoSelectiveSink(pump: PumpConfig, ctx: SinkContext, hooks: MongoSinkHooks = {}): Sink<AnalyticsRecord> {
  return new MongoSelectiveSink({
    name: pump.name,
    readSettings: () => readSelectiveSettings(pump.name, pump.meta, pump.timeout),
    logger: ctx.logger,
    hooks,
  });
}
