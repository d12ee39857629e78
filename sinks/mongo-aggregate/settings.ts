import type { Logger } from '../../src/log/logger.js';
import { bucketMinutes } from '../../src/aggregate/bucket.js';
import { parseIgnoredDimensions, type Dimension } from '../../src/aggregate/dimensions.js';
import { readConnectionSettings, type MongoConnectionSettings } from '../mongo/connection.js';
import { metaBool, metaNumber, metaStrings, type Meta } from '../mongo/meta.js';

/* mongo-pump-aggregate's options (reference §6.4), read with Tyk's defaults and its warnings. */

const DEFAULT_TAG_THRESHOLD = 1000;
const DEFAULT_AGGREGATION_MINUTES = 60;

export interface AggregateSettings {
  connection: MongoConnectionSettings;
  useMixedCollection: boolean;
  trackAllPaths: boolean;
  ignoreTagPrefixes: string[];
  /** Tags in one document past which a warning is logged; -1 turns the check off. */
  tagThreshold: number;
  /** Bucket width in minutes, 1–60. */
  bucketMinutes: number;
  ignoredDimensions: ReadonlySet<Dimension>;
}

export function readAggregateSettings(sink: string, meta: Meta, timeoutSeconds: number, logger: Logger): AggregateSettings {
  const perMinute = metaBool(meta, 'store_analytics_per_minute');
  const aggregationTime = metaNumber(meta, 'aggregation_time', DEFAULT_AGGREGATION_MINUTES);
  const minutes = bucketMinutes(perMinute, aggregationTime);
  if (!perMinute && minutes !== aggregationTime) {
    logger.warn({ sink, aggregation_time: aggregationTime }, 'aggregation_time must be 1–60 minutes; using 60');
  }
  const ignored = parseIgnoredDimensions(metaStrings(meta, 'ignore_aggregations'));
  for (const name of ignored.unknown) logger.warn({ sink, ignore_aggregations: name }, 'unknown aggregation in ignore_aggregations; ignoring it');
  if (metaBool(meta, 'enable_aggregate_self_healing')) {
    logger.info({ sink }, 'enable_aggregate_self_healing has no effect: a per-document budget keeps aggregate documents under 16 MB');
  }
  return {
    connection: readConnectionSettings(sink, meta, timeoutSeconds),
    useMixedCollection: metaBool(meta, 'use_mixed_collection'),
    trackAllPaths: metaBool(meta, 'track_all_paths'),
    ignoreTagPrefixes: metaStrings(meta, 'ignore_tag_prefix_list'),
    tagThreshold: metaNumber(meta, 'threshold_len_tag_list') || DEFAULT_TAG_THRESHOLD,
    bucketMinutes: minutes,
    ignoredDimensions: ignored.dimensions,
  };
}
