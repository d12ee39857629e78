import { AnalyticsAggregation, dimensionEntries, type AggregationOptions } from '../../src/aggregate/analytics.js';
import { bucketMinutes } from '../../src/aggregate/bucket.js';
import { parseIgnoredDimensions } from '../../src/aggregate/dimensions.js';
import { aggregateRows } from '../../src/aggregate/sql-rows.js';
import type { PumpConfig } from '../../src/config/types.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { SinkContext } from '../context.js';
import type { Sink } from '../sink.js';
import { AggregateTableSink, type AggregateTableConfiguration, type BatchRows, type RowAggregation } from './aggregate-table-sink.js';
import { readSqlSettings } from './settings.js';
import { unaddableAnalyticsValue } from '../../src/aggregate/addable.js';
import { metaBoolean, metaStringList } from './meta.js';

/*
 * Tyk's `sql_aggregate` pump for PostgreSQL (reference §7.3): per-org, per-hour (or per-minute) counters
 * by dimension in tyk_aggregated or its daily shards. threshold_len_tag_list is accepted and, as in Tyk,
 * unused; postgres.prefer_simple_protocol and log_level are accepted and unused (node-postgres binds
 * array parameters with the extended protocol, and statements are not logged).
 */

export const AGGREGATE_TABLE = 'tyk_aggregated';
/** Tyk's `<table>_idx_dimension` column order. */
const INDEX_COLUMNS = ['dimension', 'timestamp', 'org_id', 'dimension_value'] as const;

function analyticsRowAggregation(options: AggregationOptions): RowAggregation<AnalyticsRecord> {
  const aggregation = new AnalyticsAggregation(options);
  return {
    add: (record) => {
      const refusal = unaddableAnalyticsValue(record);
      if (refusal === undefined) aggregation.add(record);
      return refusal;
    },
    rows: () => ({
      rows: [...aggregation.take().values()].flatMap((agg) => aggregateRows(agg, dimensionEntries(agg))),
      counted: aggregation.counted,
    }),
  };
}

export function analyticsRows(records: readonly AnalyticsRecord[], options: AggregationOptions): BatchRows {
  const aggregation = analyticsRowAggregation(options);
  for (const record of records) aggregation.add(record);
  return aggregation.rows();
}

function configure(pump: PumpConfig, ctx: SinkContext): AggregateTableConfiguration<AnalyticsRecord> {
  const meta = pump.meta ?? {};
  const settings = readSqlSettings(pump.name, meta, 'meta');
  const ignored = parseIgnoredDimensions(metaStringList(meta, 'ignore_aggregations'));
  if (ignored.unknown.length > 0) {
    ctx.logger.warn({ sink: pump.name, names: ignored.unknown }, 'meta.ignore_aggregations: unknown dimensions skipped');
  }
  const options: AggregationOptions = {
    trackAllPaths: metaBoolean(meta, 'track_all_paths'),
    ignoreTagPrefixes: metaStringList(meta, 'ignore_tag_prefix_list'),
    ignoredDimensions: ignored.dimensions,
    bucketMinutes: bucketMinutes(metaBoolean(meta, 'store_analytics_per_minute')),
  };
  return { settings, aggregation: () => analyticsRowAggregation(options) };
}

export function createSqlAggregateSink(pump: PumpConfig, ctx: SinkContext): Sink<AnalyticsRecord> {
  return new AggregateTableSink<AnalyticsRecord>({
    name: pump.name,
    baseTable: AGGREGATE_TABLE,
    indexColumns: INDEX_COLUMNS,
    configure: () => configure(pump, ctx),
    logger: ctx.logger,
  });
}
