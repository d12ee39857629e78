import { describe, expect, it } from 'vitest';
import { decodeAggregatedMsgpack } from '../../src/decode/aggregated-msgpack.js';
import { DecodeError } from '../../src/decode/decode-error.js';
import { decodeAnalyticsMsgpack } from '../../src/decode/msgpack.js';
import { aggregateRecords } from '../../src/aggregate/analytics.js';
import { bucketMinutes } from '../../src/aggregate/bucket.js';
import { ZERO_ANALYTICS_RECORD, type AnalyticsRecord } from '../../src/record/analytics-record.js';
import { analyticsTraffic, random } from '../../src/demo/traffic.js';
import { encodeAnalyticsMsgpack } from '../../src/demo/gateway-encoding.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';

/*
 * The decoder for aggregate-only batches against the full decoder: every field aggregation reads must come
 * out the same, every other one at its zero value, on the golden fixtures, on generated traffic and on
 * mutated elements.
 */

/** The full record as the aggregated decoder should give it: the fields it reads, the rest zero. */
function aggregatedView(full: AnalyticsRecord): AnalyticsRecord {
  const zero = ZERO_ANALYTICS_RECORD;
  return {
    ...zero,
    path: full.path, response_code: full.response_code, api_key: full.api_key, timestamp: full.timestamp,
    api_version: full.api_version, api_name: full.api_name, api_id: full.api_id, org_id: full.org_id,
    oauth_id: full.oauth_id, request_time: full.request_time, tags: full.tags, alias: full.alias,
    track_path: full.track_path, expireAt: full.expireAt, network: full.network,
    geo: { ...zero.geo, country: full.geo.country },
    latency: { ...zero.latency, total: full.latency.total, upstream: full.latency.upstream },
    graphql_stats: { ...zero.graphql_stats, IsGraphQL: full.graphql_stats.IsGraphQL },
    mcp_stats: { ...zero.mcp_stats, is_mcp: full.mcp_stats.is_mcp },
  };
}

function outcome(decode: (bytes: Buffer) => AnalyticsRecord, bytes: Buffer): AnalyticsRecord | DecodeError {
  try {
    return decode(bytes);
  } catch (err) {
    if (err instanceof DecodeError) return err;
    throw err;
  }
}

const fixtures = analyticsMsgpackFixtures();

describe('decoding for aggregation reads what the full decoder reads', () => {
  it.each(fixtures.map((f) => [f.index, f] as const))('analytics fixture line %i', (_i, f) => {
    expect(decodeAggregatedMsgpack(f.bytes)).toEqual(aggregatedView(decodeAnalyticsMsgpack(f.bytes)));
  });

  it('aggregates the fixtures to the same buckets, per hour and per minute', () => {
    for (const minutes of [bucketMinutes(false), bucketMinutes(true)]) {
      const options = { trackAllPaths: false, ignoreTagPrefixes: [], ignoredDimensions: new Set<never>(), bucketMinutes: minutes };
      const full = aggregateRecords(fixtures.map((f) => decodeAnalyticsMsgpack(f.bytes)), options);
      const aggregated = aggregateRecords(fixtures.map((f) => decodeAggregatedMsgpack(f.bytes)), options);
      expect(aggregated).toEqual(full);
      expect(full.size).toBeGreaterThan(10);
    }
  });

  it('matches on 5,000 generated records', () => {
    const traffic = analyticsTraffic({ days: 1, now: new Date(Date.UTC(2024, 4, 10)), seed: 7 });
    for (let i = 0; i < 5000; i++) {
      const bytes = encodeAnalyticsMsgpack(traffic.next().value);
      expect(decodeAggregatedMsgpack(bytes)).toEqual(aggregatedView(decodeAnalyticsMsgpack(bytes)));
    }
  });

  it('reads integers of every width, negative ones and integral floats as the full decoder does', () => {
    // {"ResponseCode": <v>, "RequestTime": <v>} for each encoding of an integer Go may write or msgpackr reads
    const forms = ['05', 'e0', 'cc c8', 'cd 01f4', 'ce 80000000', 'cf 0000000100000000', 'd0 80', 'd1 8000', 'd2 80000000',
      'd3 ffffffff00000000', 'cb 4069000000000000', 'c0'];
    const key = (name: string) => Buffer.concat([Buffer.from([0xa0 + name.length]), Buffer.from(name)]);
    for (const form of forms) {
      const v = Buffer.from(form.replace(' ', ''), 'hex');
      const bytes = Buffer.concat([Buffer.from([0x82]), key('ResponseCode'), v, key('RequestTime'), v]);
      const full = decodeAnalyticsMsgpack(bytes);
      expect(decodeAggregatedMsgpack(bytes)).toEqual(aggregatedView(full));
      expect(full.response_code, form).toBe(full.request_time);
    }
  });

  it('reads invalid UTF-8 in a read field as the full decoder does (U+FFFD)', () => {
    // {"Path": "/a\xff\xfeb", "APIName": <40 bytes with an invalid sequence, past msgpackr's short-string path>}
    const longName = Buffer.concat([Buffer.from('api-'), Buffer.from([0xc3, 0x28]), Buffer.from('x'.repeat(34))]);
    const bytes = Buffer.concat([
      Buffer.from([0x82, 0xa4]), Buffer.from('Path'), Buffer.from([0xa5, 0x2f, 0x61, 0xff, 0xfe, 0x62]),
      Buffer.from([0xa7]), Buffer.from('APIName'), Buffer.from([0xd9, longName.length]), longName,
    ]);
    const aggregated = decodeAggregatedMsgpack(bytes);
    expect(aggregated).toEqual(aggregatedView(decodeAnalyticsMsgpack(bytes)));
    expect(aggregated.path).toContain('\uFFFD');
  });

  it('keeps the last of a key given twice, and skips keys that are not strings', () => {
    // {"APIID": "a", 7: "x", "APIID": "b"}
    const fixed = Buffer.from('83' + 'a54150494944a161' + '07a178' + 'a54150494944a162', 'hex');
    expect(decodeAggregatedMsgpack(fixed).api_id).toBe('b');
    expect(decodeAnalyticsMsgpack(fixed).api_id).toBe('b');
  });
});

describe('malformed elements', () => {
  const good = fixtures[14]!.bytes;
  const hex = (s: string) => Buffer.from(s, 'hex');

  const rejectedByBoth: Array<[string, Buffer, RegExp]> = [
    ['empty bytes', Buffer.alloc(0), /msgpack/],
    ['truncated record', good.subarray(0, good.length - 7), /msgpack/],
    ['a bare integer', Buffer.from([0x2a]), /record: expected a map, got number/],
    ['nil', Buffer.from([0xc0]), /record is nil/],
    ['the never-used code 0xc1', Buffer.from([0xc1]), /./],
    ['0xc1 where a map belongs', hex('81a347656fc1'), /msgpack/],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0x01])]), /one msgpack value/],
    ['a string where Go has an int', hex('81ac526573706f6e7365436f6465a3323030'), /ResponseCode: expected an integer/],
    ['a time with one element', hex('81a954696d655374616d709101'), /TimeStamp: expected a time/],
    ['a tag that is a number', hex('81a45461677392a16101'), /Tags\[1\]: expected a string/],
    ['a time no store can hold', hex('81a954696d655374616d7092d30000082f79cd900000'), /TimeStamp: a time 9000000000000 seconds from 1970 is outside the years 1 to 9999/],
    ['the first second of year 10000', hex('81a954696d655374616d7092d30000003afff4418000'), /TimeStamp: a time 253402300800 seconds/],
    ['Geo as a number', hex('81a347656f05'), /Geo: expected a map, got number/],
    ['a map claiming more entries than it has', hex('df7fffffff'), /runs past the end/],
    ['a string claiming more bytes than it has', hex('81a450617468db7fffffff'), /runs past the end/],
  ];

  it.each(rejectedByBoth)('%s: a DecodeError from both decoders', (_name, bytes, message) => {
    expect(outcome(decodeAnalyticsMsgpack, bytes)).toBeInstanceOf(DecodeError);
    const aggregated = outcome(decodeAggregatedMsgpack, bytes);
    expect(aggregated).toBeInstanceOf(DecodeError);
    expect((aggregated as Error).message).toMatch(message);
  });

  it('does not look at a field it skips: a number as RawRequest is aggregated here, dead-lettered by the full decoder', () => {
    // {"RawRequest": 5, "APIID": "a"}
    const bytes = hex('82aa52617752657175657374' + '05' + 'a54150494944a161');
    expect(outcome(decodeAnalyticsMsgpack, bytes)).toBeInstanceOf(DecodeError);
    expect(decodeAggregatedMsgpack(bytes).api_id).toBe('a');
  });

  it('on 20,000 mutated fixtures, whatever the full decoder accepts it accepts and reads the same', () => {
    const next = random(20261202);
    let bothAccepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const source = fixtures[Math.floor(next() * fixtures.length)]!.bytes;
      const bytes = Buffer.from(source);
      const change = next();
      if (change < 0.5) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      const mutated = change < 0.8 ? bytes : bytes.subarray(0, Math.floor(next() * bytes.length));
      const full = outcome(decodeAnalyticsMsgpack, mutated);
      const aggregated = outcome(decodeAggregatedMsgpack, mutated);
      if (full instanceof DecodeError) continue;
      expect(aggregated).toEqual(aggregatedView(full));
      bothAccepted++;
    }
    expect(bothAccepted).toBeGreaterThan(1000);
  });
});
