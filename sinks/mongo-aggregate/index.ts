import type { PumpConfig } from '../../src/config/types.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { SinkContext } from '../context.js';
import type { Sink } from '../sink.js';
import { MongoAggregateSink, type MongoAggregateHooks } from './aggregate-sink.js';
import { readAggregateSettings } from './settings.js';

export type { FoldedDimensionEvent, MongoAggregateHooks } from './aggregate-sink.js';

/**
 * Tyk's `mongo-pump-aggregate`. `hooks.onFolded` reports entries folded into `other` by the document
 * budget, for a Prometheus counter.
 */
export function createMongoAggregateSink(pump: PumpConfig, ctx: SinkContext, hooks: MongoAggregateHooks = {}): Sink<AnalyticsRecord> {
  return new MongoAggregateSink({
    name: pump.name,
    readSettings: () => readAggregateSettings(pump.name, pump.meta, pump.timeout, ctx.logger),
    logger: ctx.logger,
    hooks,
  });
}
