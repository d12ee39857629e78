import { describe, expect, it } from 'vitest';
import { aggregateUptimeRecords, uptimeDimensionEntries, type UptimeAggregate } from '../../src/aggregate/uptime.js';
import { bucketKey } from '../../src/aggregate/bucket.js';
import { CODE_COLUMNS, codeColumnIndex } from '../../src/aggregate/sql-rows.js';
import type { UptimeRecord } from '../../src/record/uptime-record.js';
import { uptimeMsgpackFixtures } from '../harness/fixtures.js';

/* The uptime model against reference §7.4 and the acceptance cases of §9.4. */

const HOUR = 1546300800; // 2019-01-01T00:00:00Z
const BASE: UptimeRecord = {
  ...uptimeMsgpackFixtures()[0]!.record,
  org_id: 'org123', url: '/get', request_time: 100, response_code: 200, timestamp: { sec: HOUR + 60, nsec: 0 },
};
const report = (overrides: Partial<UptimeRecord>): UptimeRecord => ({ ...BASE, ...overrides });

function onlyAggregate(reports: UptimeRecord[]): UptimeAggregate {
  const result = [...aggregateUptimeRecords(reports).values()];
  expect(result).toHaveLength(1);
  return result[0]!;
}

describe('uptime aggregation (analytics/uptime_data_test.go)', () => {
  it('empty input gives an empty map', () => {
    expect(aggregateUptimeRecords([]).size).toBe(0);
  });

  it('one record: url./get and the total have 1 hit, 1 success and errormap {200:1}; no errors', () => {
    const agg = onlyAggregate([report({})]);
    expect(agg.url.get('/get')).toMatchObject({ hits: 1, success: 1, requestTime: 100, errorMap: new Map([['200', 1]]), identifier: '/get' });
    expect(agg.errors.size).toBe(0);
    expect(agg.total).toMatchObject({ hits: 1, success: 1, errorMap: new Map([['200', 1]]) });
  });

  it('code -1: url./get holds only its identifier and the total is empty', () => {
    const agg = onlyAggregate([report({ response_code: -1 })]);
    expect(agg.url.get('/get')).toMatchObject({ identifier: '/get', hits: 0, success: 0, totalRequestTime: 0, errorMap: new Map() });
    expect(agg.total).toMatchObject({ hits: 0, success: 0, errorTotal: 0, totalRequestTime: 0, errorMap: new Map() });
  });

  it('three records (200, 200, 500): url and total count 3 hits, 2 successes, 1 error; errors.500 has 1', () => {
    const agg = onlyAggregate([200, 200, 500].map((code) => report({ response_code: code })));
    const expected = { hits: 3, success: 2, errorTotal: 1, totalRequestTime: 300, requestTime: 100, errorMap: new Map([['200', 2], ['500', 1]]) };
    expect(agg.url.get('/get')).toMatchObject(expected);
    expect(agg.errors.get('500')).toMatchObject({ hits: 1, errorTotal: 1 });
    expect(agg.total).toMatchObject(expected);
  });

  it('dimensions: url entries, then error entries, then ""/total (TestUptimeReportAggregate_Dimensions)', () => {
    const agg = onlyAggregate([report({ url: '/a' }), report({ url: '/b', response_code: 500 }), report({ url: '/c', response_code: 404 })]);
    expect(uptimeDimensionEntries(agg).map((e) => [e.dimension, e.value])).toEqual([
      ['url', '/a'], ['url', '/b'], ['url', '/c'], ['errors', '500'], ['errors', '404'], ['', 'total'],
    ]);
  });

  it('reports without an org are skipped', () => {
    expect(aggregateUptimeRecords([report({ org_id: '' })]).size).toBe(0);
  });

  it('Sluice difference (W11): each report lands in the hour of its own time', () => {
    const result = aggregateUptimeRecords([report({}), report({ timestamp: { sec: HOUR + 3600, nsec: 0 } })]);
    expect(result.get(bucketKey('org123', HOUR))!.total.hits).toBe(1);
    expect(result.get(bucketKey('org123', HOUR + 3600))!.total.hits).toBe(1);
  });

  it('the error map fills the 2xx and error code columns (other codes summed by class); 3xx is not mapped, as in Tyk', () => {
    const agg = onlyAggregate([200, 201, 204, 206, 304, 500, 599].map((code) => report({ response_code: code })));
    const codes: Record<string, number> = Object.fromEntries(CODE_COLUMNS.map((c) => [c, 0]));
    for (const [code, count] of agg.total.errorMap) if (codeColumnIndex(code) >= 0) codes[CODE_COLUMNS[codeColumnIndex(code)]!]! += count;
    expect(codes).toMatchObject({ '200': 1, '201': 1, '2x': 2, '304': 0, '3x': 0, '500': 1, '5x': 1 });
  });
});
