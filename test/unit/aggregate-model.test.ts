import { describe, expect, it } from 'vitest';
import { aggregateRecords, dimensionEntries, type AggregationOptions, type OrgAggregate } from '../../src/aggregate/analytics.js';
import { bucketKey, bucketMinutes, bucketStartSec } from '../../src/aggregate/bucket.js';
import { EMPTY_COUNTER, accumulatorOf, compareLabels, mergeCounters, requestCounter, type Counter } from '../../src/aggregate/counter.js';
import { parseIgnoredDimensions } from '../../src/aggregate/dimensions.js';
import { AggregateKeys, apiEndpointKey, endpointHash, endpointKey, trimTag, versionKey } from '../../src/aggregate/keys.js';
import { rowColumnBuffers, rowCount, toRowColumns, type RowColumns } from '../../src/aggregate/row-columns.js';
import { FoldedTable, foldColumns } from '../../src/aggregate/folded-table.js';
import { CODE_COLUMNS, MAX_ROW_KEY_BYTES, adoptRow, aggregateRows, codeColumnIndex, rowId, rowKey, storedDimensionValue, type FoldedRow } from '../../src/aggregate/sql-rows.js';
import { mergeRowsByKey } from '../harness/aggregate-rows.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { GoTime } from '../../src/record/go-time.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';

/* The aggregation model against reference §4 and the acceptance cases of §9.3. */

const HOUR = 1546300800; // 2019-01-01T00:00:00Z
const at = (sec: number, nsec = 0): GoTime => ({ sec, nsec });

const BASE: AnalyticsRecord = {
  ...analyticsMsgpackFixtures().find((f) => f.record.response_code === 200)!.record,
  org_id: 'org1', api_id: '', api_name: '', api_version: '', api_key: '', oauth_id: '', alias: '',
  path: '/get', tags: [], track_path: false, request_time: 0, timestamp: at(HOUR), expireAt: at(HOUR + 86400),
  latency: { total: 0, upstream: 0, gateway: 0 },
  network: { open_connections: 0, closed_connections: 0, bytes_in: 0, bytes_out: 0 },
};
BASE.geo = { ...BASE.geo, country: { iso_code: '' } };

const record = (overrides: Partial<AnalyticsRecord>): AnalyticsRecord => ({ ...BASE, ...overrides });

const HOURLY_OPTIONS: AggregationOptions = { trackAllPaths: false, ignoreTagPrefixes: [], ignoredDimensions: new Set(), bucketMinutes: 60 };

function onlyAggregate(records: AnalyticsRecord[], options: Partial<AggregationOptions> = {}): OrgAggregate {
  const result = [...aggregateRecords(records, { ...HOURLY_OPTIONS, ...options }).values()];
  expect(result).toHaveLength(1);
  return result[0]!;
}

const counter = (overrides: Partial<Counter>): Counter => ({ ...EMPTY_COUNTER, ...overrides });

describe('code columns (TestCode_ProcessStatusCodes)', () => {
  it('{400:4, 481:3, 482:2, 666:3} gives code_400=4, code_4x=5 and drops 666', () => {
    const column = (code: string) => CODE_COLUMNS[codeColumnIndex(code)];
    expect([column('400'), column('481'), column('482')]).toEqual(['400', '4x', '4x']);
    expect(codeColumnIndex('666')).toBe(-1);
  });
});

describe('tags (TestAggregate_Tags, TestTrimTag)', () => {
  it.each([
    ['...', ''],
    ['hello.world', 'helloworld'],
    ['.hello.world..', 'helloworld'],
    [' hello world ', 'hello world'],
  ])('trimTag(%j) is %j', (input, output) => {
    expect(trimTag(input)).toBe(output);
  });

  it('["tag1",""] + ["", "   ", "tag2"] gives 2 tags', () => {
    const agg = onlyAggregate([record({ tags: ['tag1', ''] }), record({ tags: ['', '   ', 'tag2'] })]);
    expect([...agg.flat.tags.keys()].sort()).toEqual(['tag1', 'tag2']);
  });

  it('dots are removed: tag1 and internalgroup1dc1 from three records', () => {
    const agg = onlyAggregate([
      record({ tags: ['tag1', ''] }),
      record({ tags: ['', '...', 'tag1'] }),
      record({ tags: ['internal.group1.dc1.', 'tag1', ''] }),
    ]);
    expect([...agg.flat.tags.keys()].sort()).toEqual(['internalgroup1dc1', 'tag1']);
    expect(agg.flat.tags.get('tag1')).toMatchObject({ hits: 3, identifier: 'tag1', humanIdentifier: 'tag1' });
  });

  it('key- tags and ignore_tag_prefix_list prefixes (matched on the raw tag) are not aggregated', () => {
    const agg = onlyAggregate([record({ tags: ['key-abc', 'org-1', 'internal', ' org-2'] })], { ignoreTagPrefixes: ['org-'] });
    expect([...agg.flat.tags.keys()].sort()).toEqual(['internal', 'org-2']);
  });

  it('Sluice difference: tags that trim to the same key count a request once (Tyk counts it per raw tag)', () => {
    const agg = onlyAggregate([record({ tags: ['a.b', 'ab', ' ab '] })]);
    expect(agg.flat.tags.get('ab')!.hits).toBe(1);
  });
});

describe('skipped records (TestAggregateData_SkipGraphRecords)', () => {
  it('graph and MCP records and records without an org are not aggregated', () => {
    const graph = { ...BASE.graphql_stats, IsGraphQL: true };
    const result = aggregateRecords([
      record({ org_id: '123' }),
      record({ org_id: '777-graph', graphql_stats: graph }),
      record({ org_id: '987' }),
      record({ org_id: '555-graph', graphql_stats: graph }),
      record({ org_id: 'mcp', mcp_stats: { ...BASE.mcp_stats, is_mcp: true } }),
      record({ org_id: '' }),
    ], HOURLY_OPTIONS);
    expect([...result.values()].map((a) => a.orgId).sort()).toEqual(['123', '987']);
  });
});

describe('time buckets (TestSetAggregateTimestamp)', () => {
  const t = at(HOUR + 3 * 3600 + 17 * 60 + 42, 5);

  it('aggregation time 60 gives the start of the hour', () => {
    expect(bucketStartSec(t, 60)).toBe(HOUR + 3 * 3600);
  });

  it('aggregation time 1 (store_analytics_per_minute) gives the start of the minute', () => {
    expect(bucketMinutes(true, 60)).toBe(1);
    expect(bucketStartSec(t, 1)).toBe(HOUR + 3 * 3600 + 17 * 60);
  });

  it('Sluice difference: aggregation time 40 is a fixed window from the hour, not the last document time', () => {
    expect(bucketStartSec(at(HOUR + 39 * 60), 40)).toBe(HOUR);
    expect(bucketStartSec(at(HOUR + 41 * 60), 40)).toBe(HOUR + 40 * 60);
  });

  it('Sluice difference: aggregation time 7 starts a window every 7 minutes of the hour, whatever came before', () => {
    expect(bucketStartSec(at(HOUR + 17 * 60 + 59), 7)).toBe(HOUR + 14 * 60);
    expect(bucketStartSec(at(HOUR + 59 * 60), 7)).toBe(HOUR + 56 * 60);
  });

  it('aggregation times outside 1–60 fall back to 60', () => {
    expect(bucketMinutes(false, 0)).toBe(60);
    expect(bucketMinutes(false, 90)).toBe(60);
    expect(bucketMinutes(false, 15)).toBe(15);
  });

  it('Sluice difference (W11): each record lands in the bucket of its own hour, not the first record\'s', () => {
    const result = aggregateRecords([
      record({ timestamp: at(HOUR + 3599) }),
      record({ timestamp: at(HOUR + 3600) }),
      record({ timestamp: at(HOUR + 10) }),
    ], HOURLY_OPTIONS);
    expect(result.get(bucketKey('org1', HOUR))!.total.hits).toBe(2);
    expect(result.get(bucketKey('org1', HOUR + 3600))!.total.hits).toBe(1);
  });

  it('per-minute buckets split an hour by each record\'s minute, in UTC', () => {
    const result = aggregateRecords([record({ timestamp: at(HOUR + 59) }), record({ timestamp: at(HOUR + 60) })], { ...HOURLY_OPTIONS, bucketMinutes: 1 });
    expect([...result.values()].map((a) => a.bucketStartSec).sort()).toEqual([HOUR, HOUR + 60]);
  });
});

describe('counters (TestAnalyticsRecordAggregate_latencySetter, _AsChange, _AsTimeUpdate)', () => {
  it('hits 2, total latency 100 and upstream 200 give latency 50 and upstream latency 100', () => {
    const merged = mergeCounters(counter({ hits: 1, totalLatency: 40, totalUpstreamLatency: 150 }), counter({ hits: 1, totalLatency: 60, totalUpstreamLatency: 50 }));
    expect(merged).toMatchObject({ hits: 2, latency: 50, upstreamLatency: 100 });
  });

  it('a counter without hits has averages 0', () => {
    expect(mergeCounters(EMPTY_COUNTER, counter({ bytesIn: 5 }))).toMatchObject({ latency: 0, upstreamLatency: 0, requestTime: 0 });
  });

  it('two versions of one hit each under a total of 2 hits', () => {
    const agg = onlyAggregate([record({ api_id: 'api', api_version: 'v1' }), record({ api_id: 'api', api_version: 'v2' })]);
    expect([...agg.flat.versions.values()].map((c) => [c.identifier, c.hits])).toEqual([['v1', 1], ['v2', 1]]);
    expect(agg.total.hits).toBe(2);
  });

  it('Sluice difference: request time is always total/hits (Tyk leaves a stale requesttime in the Mongo maps)', () => {
    const agg = onlyAggregate([100, 100, 100].map((t) => record({ request_time: t, latency: { total: 100, upstream: 200, gateway: 0 } })));
    expect(agg.total).toMatchObject({ hits: 3, totalRequestTime: 300, requestTime: 100, latency: 100, upstreamLatency: 200 });
  });

  it('an API made only of errors keeps a minimum from its errors, and error hits never lower another\'s minimum', () => {
    const agg = onlyAggregate([
      record({ api_id: 'api1', response_code: 500, latency: { total: 30, upstream: 20, gateway: 0 } }),
      record({ api_id: 'api1', response_code: 500, latency: { total: 10, upstream: 5, gateway: 0 } }),
      record({ api_id: 'api1', response_code: 404, latency: { total: 20, upstream: 9, gateway: 0 } }),
      record({ api_id: 'api2', response_code: 200, latency: { total: 50, upstream: 40, gateway: 0 } }),
      record({ api_id: 'api2', response_code: 503, latency: { total: 1, upstream: 1, gateway: 0 } }),
    ]);
    expect(agg.flat.apiid.get('api1')).toMatchObject({ errorTotal: 3, minLatency: 10, minUpstreamLatency: 5 });
    expect(agg.flat.apiid.get('api2')).toMatchObject({ minLatency: 50, minUpstreamLatency: 40, maxLatency: 50 });
    expect(agg.total).toMatchObject({ minLatency: 50, minUpstreamLatency: 40, maxLatency: 50 });
  });

  it('an all-error contribution does not lower a minimum set by a success, whichever comes first (no $min)', () => {
    const ok = requestCounter({ responseCode: 200, requestTime: 1, latency: 20, upstreamLatency: 10, time: at(HOUR), mapsCode: (c) => c >= 400 });
    const failed = requestCounter({ responseCode: 500, requestTime: 1, latency: 2, upstreamLatency: 1, time: at(HOUR), mapsCode: (c) => c >= 400 });
    expect(mergeCounters(ok, failed)).toMatchObject({ minLatency: 20, minUpstreamLatency: 10 });
    expect(mergeCounters(failed, ok)).toMatchObject({ minLatency: 20, minUpstreamLatency: 10 });
  });

  it('Sluice difference: on the total, 3xx hits lower the minimum too (Tyk lowers the total\'s only with 2xx)', () => {
    const agg = onlyAggregate([
      record({ response_code: 200, latency: { total: 50, upstream: 50, gateway: 0 } }),
      record({ response_code: 304, latency: { total: 5, upstream: 5, gateway: 0 } }),
    ]);
    expect(agg.total.minLatency).toBe(5);
  });

  it('the error map counts codes ≥ 400 and feeds the errors dimension', () => {
    const agg = onlyAggregate([500, 500, 451, 200, 302].map((code) => record({ response_code: code })));
    expect(agg.total).toMatchObject({ hits: 5, success: 1, errorTotal: 3, errorMap: new Map([['500', 2], ['451', 1]]) });
    expect([...agg.flat.errors.entries()].map(([k, c]) => [k, c.hits, c.identifier])).toEqual([['500', 2, '500'], ['451', 1, '451']]);
  });
});

describe('label order for ties', () => {
  it('is code point order (UTF-8 bytes, PostgreSQL\'s "C"), NULs counting only between otherwise equal labels', () => {
    expect(compareLabels('\uFFFD', '😀')).toBeLessThan(0);
    expect(compareLabels('alice', 'Bob')).toBeGreaterThan(0);
    expect(compareLabels('a\0b', 'a\x01')).toBeGreaterThan(0);
    expect(compareLabels('a\0b', 'ab')).not.toBe(0);
    expect(compareLabels('same', 'same')).toBe(0);
    const sorted = ['😀', '\uFFFD', 'b', 'a', 'ab', '\uE000'].sort(compareLabels);
    expect(sorted).toEqual([...sorted].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });
});

describe('records with ResponseCode -1 (network stats only)', () => {
  const network = { open_connections: 3, closed_connections: 2, bytes_in: 1234, bytes_out: 4294967296 };

  it('add network stats to the total and bytes to the API, and count no hit', () => {
    const agg = onlyAggregate([record({ response_code: -1, api_id: 'tcp', api_name: 'TCP', network }), record({ response_code: -1, api_id: 'tcp', network })]);
    expect(agg.total).toMatchObject({ hits: 0, openConnections: 6, closedConnections: 4, bytesIn: 2468, bytesOut: 2 * 4294967296 });
    expect(agg.flat.apiid.get('tcp')).toMatchObject({ hits: 0, identifier: 'tcp', bytesIn: 2468, bytesOut: 2 * 4294967296, openConnections: 0 });
    expect(agg.flat.errors.size + agg.flat.tags.size).toBe(0);
  });

  it('Sluice difference: byte counters add up with request hits on the same API', () => {
    const agg = onlyAggregate([record({ api_id: 'tcp', response_code: 200 }), record({ response_code: -1, api_id: 'tcp', network })]);
    expect(agg.flat.apiid.get('tcp')).toMatchObject({ hits: 1, bytesIn: 1234 });
  });
});

describe('dimensions and keys (§4.2)', () => {
  const full = record({
    api_id: 'api1', api_name: 'API One', api_version: 'v1', api_key: 'key1', alias: 'alice', oauth_id: 'oauth1',
    path: '/a.b/c', track_path: true, tags: ['t1'], geo: { ...BASE.geo, country: { iso_code: 'GB' } }, response_code: 404,
  });

  it('the keys one aggregation remembers are the keys themselves, asked once or again, whatever the inputs share', () => {
    const keys = new AggregateKeys(['drop']);
    // Inputs that join to the same text, and the same version under another API.
    const inputs: Array<[string, string, string]> = [['api1', 'v1', '/a.b/c'], ['api1:v1', '', '/a.b/c'], ['api1', 'v1:', 'a.b/c'], ['api2', 'v1', '/a.b/c'], ['', '', '']];
    for (let round = 0; round < 2; round++) {
      for (const [api, version, path] of inputs) {
        expect(keys.versionKey(api, version)).toBe(versionKey(api, version));
        expect(keys.endpointHash(api, path)).toBe(endpointHash(api, path));
        expect(keys.apiEndpointKey(api, version, path)).toBe(apiEndpointKey(api, version, path));
        expect(keys.endpointKey(path)).toBe(endpointKey(path));
      }
      expect([' a.b ', 'key-123', 'drop-me', 'kept', '..'].map((t) => keys.tag(t))).toEqual(['ab', '', '', 'kept', '']);
    }
  });

  it('every dimension, with Tyk\'s keys and labels', () => {
    const agg = onlyAggregate([full]);
    const hash = endpointHash('api1', '/a.b/c');
    expect(hash).toBe(Buffer.from('api1:/a.b/c').toString('base64').replace(/=+$/, ''));
    expect(agg.flat.apiid.get('api1')).toMatchObject({ identifier: 'api1', humanIdentifier: 'API One' });
    expect(agg.flat.errors.get('404')).toMatchObject({ identifier: '404', humanIdentifier: '' });
    expect(agg.flat.versions.get(versionKey('api1', 'v1'))).toMatchObject({ identifier: 'v1', humanIdentifier: 'v1' });
    expect(versionKey('api1', 'v1')).toBe('YXBpMTp2MQ');
    expect(agg.flat.apikeys.get('key1')).toMatchObject({ identifier: 'key1', humanIdentifier: 'alice' });
    expect(agg.flat.oauthids.get('oauth1')).toMatchObject({ identifier: 'oauth1', humanIdentifier: '' });
    expect(agg.flat.geo.get('GB')).toMatchObject({ identifier: 'GB', humanIdentifier: 'GB' });
    expect(agg.flat.tags.get('t1')).toMatchObject({ identifier: 't1' });
    expect(endpointKey('/a.b/c')).toBe('/a\\u2eb/c');
    expect(agg.flat.endpoints.get('/a\\u2eb/c')).toMatchObject({ identifier: '/a.b/c', humanIdentifier: '/a.b/c' });
    const apiEndpoint = apiEndpointKey('api1', 'v1', '/a.b/c');
    expect(apiEndpoint).toBe(Buffer.from('api1:v1:/a.b/c').toString('hex'));
    expect(agg.flat.apiendpoints.get(apiEndpoint)).toMatchObject({ identifier: apiEndpoint, humanIdentifier: '/a.b/c' });
    expect(agg.nested.keyendpoints.get('key1')!.get(hash)).toMatchObject({ identifier: hash, humanIdentifier: hash });
    expect(agg.nested.oauthendpoints.get('oauth1')!.get(hash)).toMatchObject({ identifier: hash });
  });

  it('flattens in §4.3 order, nested values as <outer>.<inner>, the total last', () => {
    const entries = dimensionEntries(onlyAggregate([full]));
    expect(entries.map((e) => e.dimension)).toEqual([
      'apiid', 'errors', 'versions', 'apikeys', 'oauthids', 'geo', 'tags', 'endpoints', 'keyendpoints', 'oauthendpoints', 'apiendpoints', '',
    ]);
    expect(entries[8]!.value).toBe(`key1.${endpointHash('api1', '/a.b/c')}`);
    expect(entries.at(-1)).toMatchObject({ dimension: '', value: 'total' });
  });

  it('without track_path there are no endpoint dimensions; track_all_paths adds them', () => {
    const untracked = { ...full, track_path: false };
    const plain = onlyAggregate([untracked]);
    expect(plain.flat.endpoints.size + plain.flat.apiendpoints.size + plain.nested.keyendpoints.size + plain.nested.oauthendpoints.size).toBe(0);
    const all = onlyAggregate([untracked], { trackAllPaths: true });
    expect(all.flat.endpoints.size + all.flat.apiendpoints.size + all.nested.keyendpoints.size + all.nested.oauthendpoints.size).toBe(4);
    expect(untracked.track_path).toBe(false); // the input is not modified
  });

  it('ignore_aggregations drops the named dimensions, by Go or stored name, but never the total', () => {
    const ignored = parseIgnoredDimensions(['APIKeys', 'tags', 'KeyEndpoint', 'total', 'nonsense']);
    expect([...ignored.dimensions].sort()).toEqual(['apikeys', 'keyendpoints', 'tags']);
    expect(ignored.unknown).toEqual(['total', 'nonsense']);
    const agg = onlyAggregate([full], { ignoredDimensions: ignored.dimensions });
    expect(agg.flat.apikeys.size + agg.flat.tags.size + agg.nested.keyendpoints.size).toBe(0);
    expect(agg.flat.apiid.size).toBe(1);
    expect(agg.total.hits).toBe(1);
  });
});

describe('SQL rows (§7.3)', () => {
  it('ids are lower-case hex of the key, bucket seconds + org + dimension + value', () => {
    expect(rowKey(HOUR, 'org1', '', 'total')).toBe(`${HOUR}org1total`);
    expect(rowId(rowKey(HOUR, 'org1', 'tags', 'café'))).toBe(Buffer.from(`${HOUR}org1tagscafé`, 'utf8').toString('hex'));
    const agg = onlyAggregate([record({ api_id: 'api1' })]);
    const rows = aggregateRows(agg, dimensionEntries(agg));
    expect(rows.map((r) => [r.dimension, r.dimensionValue, r.timestampSec])).toEqual([['apiid', 'api1', HOUR], ['', 'total', HOUR]]);
    expect(rowId(rows[0]!.key)).toBe(Buffer.from(`${HOUR}org1apiidapi1`).toString('hex'));
  });

  it('a value too long for its row key is cut at a character boundary and ended with a hash of the whole', () => {
    const bucket = { orgId: 'org1', bucketStartSec: HOUR };
    expect(storedDimensionValue(bucket, 'tags', 'short')).toBe('short');
    const keyBytes = (value: string) => Buffer.byteLength(rowKey(HOUR, 'org1', 'tags', value));
    const exact = 'x'.repeat(MAX_ROW_KEY_BYTES - keyBytes(''));
    expect(storedDimensionValue(bucket, 'tags', exact)).toBe(exact);
    for (const long of [`${exact}y`, '😀'.repeat(400), `${'é'.repeat(600)}😀`]) {
      const stored = storedDimensionValue(bucket, 'tags', long);
      expect(keyBytes(stored)).toBeLessThanOrEqual(MAX_ROW_KEY_BYTES);
      expect(keyBytes(stored)).toBeGreaterThan(MAX_ROW_KEY_BYTES - 4);
      const [kept, hash] = stored.split('…');
      expect(long.startsWith(kept!)).toBe(true);
      expect(kept).not.toContain('\uFFFD');
      expect(hash).toMatch(/^[0-9a-f]{16}$/);
      expect(storedDimensionValue(bucket, 'tags', long)).toBe(stored);
    }
    expect(storedDimensionValue(bucket, 'tags', `${exact}y`)).not.toBe(storedDimensionValue(bucket, 'tags', `${exact}z`));
  });

  it('rows whose concatenated ids collide are merged into one before writing, keeping the first labels', () => {
    const a = onlyAggregate([record({ org_id: 'o', tags: ['apiidx'] })]);
    const b = onlyAggregate([record({ org_id: 'otags', api_id: 'x' })]);
    const rows = new Map<string, FoldedRow>();
    for (const row of [...aggregateRows(a, dimensionEntries(a)), ...aggregateRows(b, dimensionEntries(b))]) adoptRow(rows, row);
    const collided = [...rows.values()].filter((r) => r.key === rowKey(HOUR, 'o', 'tags', 'apiidx'));
    expect(collided.map((r) => [r.orgId, r.dimension, r.dimensionValue, r.counter.hits])).toEqual([['o', 'tags', 'apiidx', 2]]);
    expect(rows.get(rowKey(HOUR, 'otags', 'apiid', 'x'))).toBe(collided[0]);
  });

  it('a fold adopts the rows it is handed: new ids are kept as they are, known ids add up', () => {
    const a = onlyAggregate([record({ api_id: 'api1' })]);
    const b = onlyAggregate([record({ api_id: 'api1' }), record({ api_id: 'api2' })]);
    const into = new Map(mergeRowsByKey(aggregateRows(a, dimensionEntries(a))).map((row) => [row.key, row]));
    const handed = mergeRowsByKey(aggregateRows(b, dimensionEntries(b)));
    for (const row of handed) adoptRow(into, row);
    const api2 = handed.find((r) => r.dimensionValue === 'api2')!;
    expect(into.get(api2.key)).toBe(api2);
    expect([...into.values()].map((r) => [r.dimensionValue, r.counter.hits])).toEqual([['api1', 2], ['total', 3], ['api2', 1]]);
  });
});

describe('rows as columns (an encode thread\'s reply) and folded into tables', () => {
  /** The fixtures' rows, hourly and per minute, in two tables as a sharded sink has them. */
  function tablesOfFixtureRows(): Map<string, Map<string, FoldedRow>> {
    const records = analyticsMsgpackFixtures().map((f) => f.record);
    const tables = new Map<string, Map<string, FoldedRow>>();
    [60, 1].forEach((bucketMinutes, t) => {
      const rows = [...aggregateRecords(records, { ...HOURLY_OPTIONS, bucketMinutes }).values()].flatMap((agg) => aggregateRows(agg, dimensionEntries(agg)));
      tables.set(`table${t}`, new Map(mergeRowsByKey(rows).map((row) => [row.key, row])));
    });
    return tables;
  }

  /** What the upsert writes of a row: its counter without the error map, which becomes code_* counts. */
  function written(row: FoldedRow) {
    const { errorMap, ...counter } = row.counter;
    const codes = CODE_COLUMNS.map(() => 0);
    for (const [code, count] of errorMap) if (codeColumnIndex(code) >= 0) codes[codeColumnIndex(code)]! += count;
    return { key: row.key, timestampSec: row.timestampSec, orgId: row.orgId, dimension: row.dimension, dimensionValue: row.dimensionValue, counter, codes };
  }

  /** The same, read from a folded table, in the order its keys arrived. */
  function writtenOf(table: FoldedTable) {
    return table.keys.map((key, slot) => {
      const { errorMap: _none, ...counter } = table.counterAt(slot);
      return {
        key, timestampSec: table.timestampAt(slot), orgId: table.orgIds[slot], dimension: table.dimensions[slot],
        dimensionValue: table.dimensionValues[slot], counter, codes: CODE_COLUMNS.map((_, c) => table.codeCountAt(slot, c)),
      };
    });
  }

  function folded(...columns: RowColumns[]): Map<string, FoldedTable> {
    const tables = new Map<string, FoldedTable>();
    for (const c of columns) foldColumns(tables, c);
    return tables;
  }

  const asWritten = (tables: ReadonlyMap<string, FoldedTable>) => [...tables].map(([table, rows]) => [table, writtenOf(rows)]);
  const objectsAsWritten = (tables: ReadonlyMap<string, ReadonlyMap<string, FoldedRow>>) => [...tables].map(([table, rows]) => [table, [...rows.values()].map(written)]);

  it('fold into empty tables as the same rows, table by table, times and code_* counts included', () => {
    const tables = tablesOfFixtureRows();
    const columns = toRowColumns(tables);
    expect(rowCount(columns)).toBe(tables.get('table0')!.size + tables.get('table1')!.size);
    expect(asWritten(folded(columns))).toEqual(objectsAsWritten(tables));
    expect([...tables.get('table1')!.values()].some((row) => row.counter.errorMap.size > 1)).toBe(true);
    // Each distinct label crosses once, however many rows carry it.
    expect(new Set(columns.labels).size).toBe(columns.labels.length);
    expect(columns.labels.length).toBeLessThan(rowCount(columns));
  });

  it('survive a move to another thread: the numbers travel in the buffers the thread hands over', () => {
    const columns = toRowColumns(tablesOfFixtureRows());
    const moved = structuredClone(columns, { transfer: rowColumnBuffers(columns) });
    expect(columns.numbers.length).toBe(0);
    expect(asWritten(folded(moved))).toEqual(asWritten(folded(toRowColumns(tablesOfFixtureRows()))));
  });

  it('of no rows fold into no tables', () => {
    expect(folded(toRowColumns(new Map())).size).toBe(0);
  });

  it('fold into known rows as the model merges objects: counters, code_* counts and times added up', () => {
    // Every other row known beforehand: the first fold adds new rows beside known ones, the second only known.
    const halfKnown = () => new Map([...tablesOfFixtureRows()].map(([table, rows]) => [
      table, new Map([...rows].filter((_, i) => i % 2 === 0).map(([id, row]) => [id, { ...row, counter: accumulatorOf(row.counter) }])),
    ]));
    const byColumns = folded(toRowColumns(halfKnown()));
    const byObjects = halfKnown();
    for (let pass = 0; pass < 2; pass++) {
      foldColumns(byColumns, toRowColumns(tablesOfFixtureRows()));
      for (const [table, rows] of tablesOfFixtureRows()) for (const row of rows.values()) adoptRow(byObjects.get(table)!, row);
    }
    expect(asWritten(byColumns)).toEqual(objectsAsWritten(byObjects));
    const fresh = [...tablesOfFixtureRows().get('table1')!.values()];
    const withErrors = fresh.find((row, i) => i % 2 === 0 && row.counter.errorMap.size > 1)!;
    const table1 = byColumns.get('table1')!;
    const slot = table1.keys.indexOf(withErrors.key);
    expect(table1.counterAt(slot).hits).toBe(3 * withErrors.counter.hits);
    expect(CODE_COLUMNS.map((_, c) => table1.codeCountAt(slot, c) / 3)).toEqual(written(withErrors).codes);
  });

  it('give their rows in key order, the order writers lock them in', () => {
    const table = folded(toRowColumns(tablesOfFixtureRows())).get('table1')!;
    const keys = Array.from(table.inKeyOrder(), (slot) => table.keys[slot]!);
    expect(keys).toEqual([...table.keys].sort());
    expect(new Set(keys).size).toBe(table.size);
  });
});

describe('associative merge', () => {
  it('any split of a batch, aggregated part by part and merged, gives the same counters', () => {
    const records = Array.from({ length: 40 }, (_, i) => record({
      api_id: `api${i % 3}`, api_name: `name${i % 5}`, api_key: `k${i % 4}`, alias: `alias${i % 7}`,
      response_code: [200, 404, 500, 301, -1][i % 5]!, request_time: i, timestamp: at(HOUR + i * 89, i * 1000),
      latency: { total: (i * 37) % 50, upstream: (i * 11) % 30, gateway: 0 },
      network: { open_connections: i, closed_connections: 1, bytes_in: i * 2, bytes_out: i * 3 },
    }));
    const whole = onlyAggregate(records);
    for (const cut of [1, 7, 20, 39]) {
      const parts = [records.slice(cut), records.slice(0, cut)].map((part) => onlyAggregate(part));
      for (const key of ['api0', 'api1', 'api2']) {
        const [a, b] = parts.map((p) => p.flat.apiid.get(key) ?? EMPTY_COUNTER);
        expect(mergeCounters(a!, b!)).toEqual(whole.flat.apiid.get(key));
      }
      expect(mergeCounters(parts[0]!.total, parts[1]!.total)).toEqual(whole.total);
    }
  });
});
