import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/assets.js';
import { parseRfc3339 } from '../../src/record/go-time.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { UptimeRecord } from '../../src/record/uptime-record.js';

/*
 * The golden gateway fixtures (test/fixtures/*.jsonl; see test/fixtures/README.md): each line holds one
 * Redis list element as the gateway wrote it (`b64`) and the record Go's tyk-pump decodes it to (`record`,
 * in encoding/json form). Times in `record` carry the original zone; the wire carries only the instant,
 * so they are turned into GoTime here and compared as instants.
 */

export interface FixtureLine<R> {
  index: number;
  bytes: Buffer;
  record: R;
  /** Only in the protobuf file: what Tyk Pump itself decodes, which loses data. */
  pumpDecoded?: R;
  json: Record<string, unknown>;
}

const FIXTURE_DIR = join(packageRoot(), 'test', 'fixtures') + '/';

function readLines(file: string): Array<Record<string, unknown>> {
  return readFileSync(FIXTURE_DIR + file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function analyticsFromJson(json: Record<string, unknown>): AnalyticsRecord {
  return {
    ...(json as unknown as AnalyticsRecord),
    timestamp: parseRfc3339(json.timestamp as string),
    expireAt: parseRfc3339(json.expireAt as string),
  };
}

export function uptimeFromJson(json: Record<string, unknown>): UptimeRecord {
  return {
    ...(json as unknown as UptimeRecord),
    timestamp: parseRfc3339(json.timestamp as string),
    ExpireAt: parseRfc3339(json.ExpireAt as string),
  };
}

function load<R>(file: string, convert: (json: Record<string, unknown>) => R): Array<FixtureLine<R>> {
  return readLines(file).map((line, index) => ({
    index,
    bytes: Buffer.from(line.b64 as string, 'base64'),
    record: convert(line.record as Record<string, unknown>),
    pumpDecoded: line.pump_decoded ? convert(line.pump_decoded as Record<string, unknown>) : undefined,
    json: line.record as Record<string, unknown>,
  }));
}

export const analyticsMsgpackFixtures = () => load('analytics-msgpack.jsonl', analyticsFromJson);
export const analyticsProtobufFixtures = () => load('analytics-protobuf.jsonl', analyticsFromJson);
export const uptimeMsgpackFixtures = () => load('uptime-msgpack.jsonl', uptimeFromJson);
