import { analyticsMsgpackFixtures } from './fixtures.js';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';

/** A plain REST record from the fixtures (line 14: 200, UTC, no GraphQL or MCP) to vary in tests. */
export const BASE_RECORD: AnalyticsRecord = analyticsMsgpackFixtures()[14]!.record;

/** `count` distinct records, told apart by `path` (`/<label>/<i>`), encoded as a gateway writes them. */
export function distinctRecords(label: string, count: number, patch: Partial<AnalyticsRecord> = {}): Buffer[] {
  return Array.from({ length: count }, (_, i) =>
    encodeAnalyticsMsgpack({ ...BASE_RECORD, raw_request: '', raw_response: '', ...patch, path: `/${label}/${i}`, raw_path: `/${label}/${i}` }));
}
