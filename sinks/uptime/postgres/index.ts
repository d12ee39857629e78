import { aggregateUptimeRecords, uptimeDimensionEntries } from '../../../src/aggregate/uptime.js';
import { aggregateRows } from '../../../src/aggregate/sql-rows.js';
import type { UptimePumpConfig } from '../../../src/config/types.js';
import type { UptimeRecord } from '../../../src/record/uptime-record.js';
import type { SinkContext } from '../../context.js';
import type { Sink } from '../../sink.js';
import { AggregateTableSink, type BatchRows } from '../../postgres-aggregate/aggregate-table-sink.js';
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

export function uptimeRows(reports: readonly UptimeRecord[]): BatchRows {
  const rows = [...aggregateUptimeRecords(reports).values()].flatMap((agg) => aggregateRows(agg, uptimeDimensionEntries(agg)));
  return { rows, counted: reports.filter((r) => r.org_id !== '').length };
}

export function createSqlUptimeSink(uptime: UptimePumpConfig, ctx: SinkContext): Sink<UptimeRecord> {
  return new AggregateTableSink<UptimeRecord>({
    name: NAME,
    baseTable: UPTIME_TABLE,
    indexColumns: INDEX_COLUMNS,
    configure: () => ({ settings: readSqlSettings(NAME, uptime, 'uptime_pump_config'), rowsFor: uptimeRows }),
    logger: ctx.logger,
  });
}
