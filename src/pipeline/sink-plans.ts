import type { PumpConfiguration } from '../config/types.js';
import type { AnalyticsRecord } from '../record/analytics-record.js';
import type { SinkContext } from '../../sinks/context.js';
import type { Sink, SinkRecord } from '../../sinks/sink.js';
import { createAnalyticsSink, createUptimeSink } from '../../sinks/registry.js';
import { processForPump } from './process.js';
import type { PreparingRoute } from './prepare-batch.js';

/*
 * The sinks a configuration asks for, each with what it receives of a batch. The worker builds them to
 * write; an encode thread builds the same from the same configuration to encode, and never opens them.
 */

export interface SinkPlan extends PreparingRoute {
  /** The pump's `timeout` in seconds; 0 waits as long as a write takes. */
  timeoutSeconds: number;
}

export interface SinkPlans {
  analytics: SinkPlan[];
  uptime: SinkPlan[];
}

export async function planSinks(config: PumpConfiguration, ctx: SinkContext): Promise<SinkPlans> {
  const analytics = await Promise.all(config.pumps.map(async (pump): Promise<SinkPlan> => ({
    sink: (await createAnalyticsSink(pump, ctx)) as Sink<unknown>,
    timeoutSeconds: pump.timeout,
    prepare: (record) => processForPump(record as SinkRecord<AnalyticsRecord>, {
      pump, globalMaxRecordSize: config.max_record_size, globalOmitDetailedRecording: config.omit_detailed_recording,
    }),
  })));
  const uptime: SinkPlan[] = config.dont_purge_uptime_data ? [] : [{
    sink: (await createUptimeSink(config.uptime_pump_config, ctx)) as Sink<unknown>,
    timeoutSeconds: 0,
    prepare: (record) => record,
  }];
  return { analytics, uptime };
}
