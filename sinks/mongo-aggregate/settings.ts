import type { Logger } from '../../src/log/logger.js';
import { readConnectionSettings, type MongoConnectionSettings } from '../mongo/connection.js';
import { metaBool, metaNumber, metaStrings, type Meta } from '../mongo/meta.js';

/* mongo-pump-aggregate's options (reference §6.4), read with Tyk's defaults and its warnings. */

export const DIMENSIONS = ['apiid', 'errors', 'versions', 'apikeys', 'oauthids', 'geo', 'tags', 'endpoints', 'keyendpoints', 'oauthendpoints', 'apiendpoints'] as const;
export type DimensionName = (typeof DIMENSIONS)[number];

/** `ignore_aggregations` accepts Tyk's Go field names and the BSON names. */
const IGNORABLE: Record<string, DimensionName> = {
  APIID: 'apiid', Errors: 'errors', Versions: 'versions', APIKeys: 'apikeys', OauthIDs: 'oauthids', Geo: 'geo', Tags: 'tags',
  Endpoints: 'endpoints', KeyEndpoint: 'keyendpoints', OauthEndpoint: 'oauthendpoints', ApiEndpoint: 'apiendpoints',
  ...Object.fromEntries(DIMENSIONS.map((d) => [d, d])),
};

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
  aggregationMinutes: number;
  ignoredDimensions: ReadonlySet<DimensionName>;
}

export function readAggregateSettings(sink: string, meta: Meta, timeoutSeconds: number, logger: Logger): AggregateSettings {
  if (metaBool(meta, 'enable_aggregate_self_healing')) {
    logger.info({ sink }, 'enable_aggregate_self_healing has no effect: a per-document budget keeps aggregate documents under 16 MB');
  }
  return {
    connection: readConnectionSettings(sink, meta, timeoutSeconds),
    useMixedCollection: metaBool(meta, 'use_mixed_collection'),
    trackAllPaths: metaBool(meta, 'track_all_paths'),
    ignoreTagPrefixes: metaStrings(meta, 'ignore_tag_prefix_list'),
    tagThreshold: metaNumber(meta, 'threshold_len_tag_list') || DEFAULT_TAG_THRESHOLD,
    aggregationMinutes: aggregationMinutes(sink, meta, logger),
    ignoredDimensions: ignoredDimensions(sink, meta, logger),
  };
}

function aggregationMinutes(sink: string, meta: Meta, logger: Logger): number {
  if (metaBool(meta, 'store_analytics_per_minute')) return 1;
  const minutes = metaNumber(meta, 'aggregation_time', DEFAULT_AGGREGATION_MINUTES);
  if (Number.isInteger(minutes) && minutes >= 1 && minutes <= 60) return minutes;
  logger.warn({ sink, aggregation_time: minutes }, 'aggregation_time must be 1–60 minutes; using 60');
  return DEFAULT_AGGREGATION_MINUTES;
}

function ignoredDimensions(sink: string, meta: Meta, logger: Logger): Set<DimensionName> {
  const ignored = new Set<DimensionName>();
  for (const name of metaStrings(meta, 'ignore_aggregations')) {
    const dimension = IGNORABLE[name];
    if (dimension) ignored.add(dimension);
    else logger.warn({ sink, ignore_aggregations: name }, 'unknown aggregation in ignore_aggregations; ignoring it');
  }
  return ignored;
}
