import { UptimeAggregation, uptimeDimensionEntries } from '../../../src/aggregate/uptime.js';
import { aggregateRows } from '../../../src/aggregate/sql-rows.js';
import { unaddableUptimeValue } from '../../../src/aggregate/addable.js';
import type { UptimePumpConfig } from '../../../src/config/types.js';
import type { UptimeRecord } from '../../../src/record/uptime-record.js';
import type { SinkContext } from '../../context.js';
import type { Sink } from '../../sink.js';
import { AggregateTableSink, type BatchRows, type RowAggregation } from '../../postgres-aggregate/aggregate-table-sink.js';
import { readSqlSettings } from '../../postgres-aggregate/settings.js';

/*
 * Tyk's SQL uptime pump (uptime_pump_config.uptime_type "sql", reference §7.4): host-checker reports as
 * hourly aggregates by URL and error code in tyk_uptime_analytics or its daily shards. It shares the
 * aggregate table layout and upsert with sql_aggregate, so counter_request_time is recomputed on conflict
 * (Tyk freezes it, W18).
 */

export const UPTIME_TABLE = 'tyk_uptime_analytics';
const NAME = 'UPTIME_SQL';
/** The column order of Tyk's gorm `dimension` index. */
const INDEX_COLUMNS = ['timestamp', 'org_id', 'dimension', 'dimension_value'] as const;

function uptimeRowAggregation(): RowAggregation<UptimeRecord> {
  const aggregation = new UptimeAggregation();
  return {
    add: (report) => {
      const refusal = unaddableUptimeValue(report);
      if (refusal === undefined) aggregation.add(report);
      return refusal;
    },
    rows: () => ({
      rows: [...aggregation.take().values()].flatMap((agg) => aggregateRows(agg, uptimeDimensionEntries(agg))),
      counted: aggregation.counted,
    }),
  };
}

export function uptimeRows(reports: readonly UptimeRecord[]): BatchRows {
  const aggregation = uptimeRowAggregation();
  for (const report of reports) aggregation.add(report);
  return aggregation.rows();
}

export function createSqlUptimeSink(uptime: UptimePumpConfig, ctx: SinkContext): Sink<UptimeRecord> {
  return new AggregateTableSink<UptimeRecord>({
    name: NAME,
    baseTable: UPTIME_TABLE,
    indexColumns: INDEX_COLUMNS,
    configure: () => ({ settings: readSqlSettings(NAME, uptime, 'uptime_pump_config'), aggregation: uptimeRowAggregation }),
    logger: ctx.logger,
  });
}
