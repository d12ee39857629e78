import { describe, expect, it } from 'vitest';
import { Unpackr } from 'msgpackr';
import { analyticsTraffic, uptimeTraffic } from '../../src/demo/traffic.js';
import { encodeAnalyticsMsgpack, encodeAnalyticsProtobuf, encodeUptimeMsgpack } from '../../src/demo/gateway-encoding.js';
import { decodeAnalyticsMsgpack, decodeUptimeMsgpack } from '../../src/decode/msgpack.js';
import { decodeAnalyticsProtobuf } from '../../src/decode/protobuf.js';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';

const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false, int64AsType: 'number' });

/** The shape of a wire value: key sets of maps, element shapes of arrays, scalar kinds; nil matches anything. */
function shapeMismatches(actual: unknown, golden: unknown, path: string): string[] {
  if (actual === null || golden === null) return [];
  if (Array.isArray(golden)) {
    if (!Array.isArray(actual)) return [`${path}: array expected`];
    return golden.length > 0 && actual.length > 0 ? shapeMismatches(actual[0], golden[0], `${path}[0]`) : [];
  }
  if (typeof golden === 'object') {
    if (typeof actual !== 'object' || Array.isArray(actual)) return [`${path}: map expected`];
    const g = golden as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    // Maps with data keys (City.Names, GraphQL Types) are compared by value kind only.
    if (/Names|Types$/.test(path)) return [];
    const keys = [...new Set([...Object.keys(g), ...Object.keys(a)])];
    return keys.flatMap((k) => (k in g && k in a ? shapeMismatches(a[k], g[k], `${path}.${k}`) : [`${path}.${k}: key ${k in g ? 'missing' : 'extra'}`]));
  }
  return typeof actual === typeof golden ? [] : [`${path}: ${typeof actual} where the gateway writes ${typeof golden}`];
}

const period = { days: 7, now: new Date('2026-11-20T12:00:00Z'), seed: 42 };

function take<T>(gen: Generator<T, never>, n: number): T[] {
  return Array.from({ length: n }, () => gen.next().value);
}

describe('demo traffic looks like a gateway wrote it', () => {
  const records = take(analyticsTraffic(period), 2000);
  const uptime = take(uptimeTraffic(period), 200);

  it('has the key sets and value types of the golden analytics fixtures', () => {
    const golden = unpackr.unpack(analyticsMsgpackFixtures()[14]!.bytes);
    for (const r of records.slice(0, 200)) expect(shapeMismatches(unpackr.unpack(encodeAnalyticsMsgpack(r)), golden, 'record')).toEqual([]);
  });

  it('has the key set and value types of the golden uptime fixtures', () => {
    const golden = unpackr.unpack(uptimeMsgpackFixtures()[0]!.bytes);
    for (const r of uptime.slice(0, 50)) expect(shapeMismatches(unpackr.unpack(encodeUptimeMsgpack(r)), golden, 'uptime')).toEqual([]);
  });

  it('round-trips through the decoders, msgpack and protobuf', () => {
    for (const r of records.slice(0, 300)) {
      expect(decodeAnalyticsMsgpack(encodeAnalyticsMsgpack(r))).toEqual(r);
      const viaProtobuf = decodeAnalyticsProtobuf(encodeAnalyticsProtobuf(r));
      expect({ ...viaProtobuf, latency: { ...viaProtobuf.latency, gateway: r.latency.gateway } }).toEqual(r);
    }
    for (const r of uptime) expect(decodeUptimeMsgpack(encodeUptimeMsgpack(r))).toEqual(r);
  });

  it('is varied: several orgs, APIs, keys, codes and countries, spread over the days', () => {
    const distinct = (f: (r: (typeof records)[number]) => unknown) => new Set(records.map(f)).size;
    expect(distinct((r) => r.org_id)).toBe(3);
    expect(distinct((r) => r.api_id)).toBeGreaterThanOrEqual(9);
    expect(distinct((r) => r.api_key)).toBeGreaterThan(50);
    expect(distinct((r) => r.response_code)).toBeGreaterThanOrEqual(10);
    expect(distinct((r) => r.geo.country.iso_code)).toBe(6);
    expect(distinct((r) => `${r.year}-${r.month}-${r.day}`)).toBeGreaterThanOrEqual(7);
    expect(records.some((r) => r.response_code === -1)).toBe(true);
  });

  it('is repeatable from its seed', () => {
    expect(take(analyticsTraffic(period), 50)).toEqual(records.slice(0, 50));
  });
});
