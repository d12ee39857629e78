import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/decode/decode-error.js';
import { decodeAnalyticsMsgpack } from '../../src/decode/msgpack.js';
import { decodeAnalyticsProtobuf } from '../../src/decode/protobuf.js';
import { ZERO_TIME, isZeroTime } from '../../src/record/go-time.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { analyticsMsgpackFixtures, analyticsProtobufFixtures } from '../harness/fixtures.js';

const fixtures = analyticsProtobufFixtures();
const decoded = fixtures.map((f) => decodeAnalyticsProtobuf(f.bytes));

/*
 * What the protobuf wire cannot carry, so the decoded record may differ from the gateway's `record` there
 * and only in the way stated. Every other field must be equal. The stats of a record that is not GraphQL
 * (or not MCP) are lost too, but no fixture has such stats; hand-built messages below cover them.
 */
interface Lost {
  name: string;
  field: RegExp;
  allows: (expected: unknown, actual: unknown) => boolean;
}

const isEmpty = (v: unknown) => (Array.isArray(v) ? v.length === 0 : v !== null && typeof v === 'object' && Object.keys(v).length === 0);

const LOST_ON_THE_WIRE: Lost[] = [
  { name: 'latency.gateway: the proto Latency has no Gateway field', field: /^latency\.gateway$/, allows: (_e, a) => a === 0 },
  {
    name: 'GraphError.path: GraphErrors carries only each message',
    field: /^graphql_stats\.Errors\.\d+\.path$/,
    allows: (_e, a) => a === null,
  },
  {
    name: 'nil versus empty: proto3 leaves both out of the bytes',
    field: /^(tags|geo\.city\.names|graphql_stats\.(RootFields|Errors|Types(\.[^.]+)?))$/,
    allows: (e, a) => (e === null && isEmpty(a)) || (isEmpty(e) && a === null),
  },
];

interface Difference {
  path: string;
  lost: string | null;
}

const isContainer = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

function differences(expected: unknown, actual: unknown, path = ''): Difference[] {
  if (isDeepStrictEqual(expected, actual)) return [];
  const lost = LOST_ON_THE_WIRE.find((l) => l.field.test(path) && l.allows(expected, actual));
  if (lost) return [{ path, lost: lost.name }];
  if (isContainer(expected) && isContainer(actual) && Array.isArray(expected) === Array.isArray(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    return [...keys].flatMap((k) => differences(expected[k], actual[k], path ? `${path}.${k}` : k));
  }
  return [{ path, lost: null }];
}

describe('protobuf decoding of every golden fixture', () => {
  it('has the 299 lines the gateway README promises', () => {
    expect(fixtures).toHaveLength(299);
  });

  it.each(fixtures.map((f) => [f.index, f] as const))('line %i equals record but for what the wire loses', (i, f) => {
    expect(differences(f.record, decoded[i]).filter((d) => d.lost === null)).toEqual([]);
  });

  it('needs every entry of the lost-field list somewhere', () => {
    const used = new Set(fixtures.flatMap((f, i) => differences(f.record, decoded[i]).map((d) => d.lost)));
    expect([...used].sort()).toEqual(LOST_ON_THE_WIRE.map((l) => l.name).sort());
  });

  it('equals what Tyk Pump decodes, except the times it zeroes and the city names it drops', () => {
    let zeroedByTyk = 0;
    fixtures.forEach((f, i) => {
      const ours = decoded[i]!;
      const tyk = f.pumpDecoded!;
      if (isZeroTime(tyk.timestamp) && !isZeroTime(ours.timestamp)) {
        zeroedByTyk++;
        expect(isZeroTime(tyk.expireAt)).toBe(true);
      } else {
        expect([ours.timestamp, ours.expireAt]).toEqual([tyk.timestamp, tyk.expireAt]);
      }
      expect(tyk.geo.city.names).toBeNull();
      const geo = { ...ours.geo, city: { ...ours.geo.city, names: null } };
      expect({ ...ours, timestamp: tyk.timestamp, expireAt: tyk.expireAt, geo }).toEqual(tyk);
    });
    // The "UTC+0530" lines: a zone name Go's LoadLocation rejects.
    expect(zeroedByTyk).toBe(21);
  });

  it('maps line N to msgpack line N below 4 and N+1 from 4 on (record 4 is not valid UTF-8)', () => {
    const msgpack = analyticsMsgpackFixtures().map((f) => decodeAnalyticsMsgpack(f.bytes));
    expect(msgpack).toHaveLength(300);
    const instants = (r: AnalyticsRecord) => ({ timestamp: r.timestamp, expireAt: r.expireAt, api_id: r.api_id });
    decoded.forEach((r, n) => {
      expect(instants(r)).toEqual(instants(msgpack[n < 4 ? n : n + 1]!));
    });
    expect(instants(decoded[4]!)).not.toEqual(instants(msgpack[4]!));
    expect(msgpack[4]!.raw_path).toContain('\uFFFD');
  });

  it('turns GraphQL errors into messages without a path and keeps city names (line 8, line 6)', () => {
    expect(decoded[8]!.graphql_stats.Errors).toEqual([
      { message: 'boom', path: null },
      { message: 'nil path', path: null },
      { message: 'empty path', path: null },
    ]);
    expect(decoded[6]!.geo.city.names).toEqual(fixtures[6]!.record.geo.city.names);
    expect(decoded[6]!.geo.city.names).not.toBeNull();
  });
});

/* An encoder built independently from the same .proto, to hand-build messages the gateway never sends. */
function schema(): protobuf.Type {
  const root = new protobuf.Root();
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
  protobuf.parse(readFileSync(new URL('../../src/decode/analytics.proto', import.meta.url), 'utf8'), root, { keepCase: true });
  root.resolveAll();
  return root.lookupType('normalproto.AnalyticsRecord');
}

const RecordType = schema();
const encode = (fields: Record<string, unknown>) => RecordType.encode(RecordType.fromObject(fields)).finish();

describe('hand-built messages', () => {
  const zeroGeo = {
    country: { iso_code: '' },
    city: { geoname_id: 0, names: null },
    location: { latitude: 0, longitude: 0, time_zone: '' },
  };
  const zeroNetwork = { open_connections: 0, closed_connections: 0, bytes_in: 0, bytes_out: 0 };

  it('refuses a time beyond any date a store can hold, naming the field', () => {
    expect(() => decodeAnalyticsProtobuf(encode({ ExpireAt: { seconds: 9_000_000_000_000, nanos: 0 } }))).toThrow(DecodeError);
    expect(() => decodeAnalyticsProtobuf(encode({ TimeStamp: { seconds: -9_000_000_000_000, nanos: 0 } }))).toThrow(/TimeStamp: a time -9000000000000 seconds/);
  });

  it('holds years 1 to 9999: Go\'s zero time and the last second of 9999 decode, a second beyond either is refused', () => {
    const at = (seconds: number, nanos = 0) => decodeAnalyticsProtobuf(encode({ TimeStamp: { seconds, nanos } })).timestamp;
    expect(at(-62_135_596_800)).toEqual(ZERO_TIME);
    expect(at(253_402_300_799, 999_999_999)).toEqual({ sec: 253_402_300_799, nsec: 999_999_999 });
    expect(() => at(253_402_300_799, 1_000_000_000)).toThrow(/TimeStamp: a time 253402300800 seconds from 1970 is outside the years 1 to 9999/);
    expect(() => at(-62_135_596_801)).toThrow(/TimeStamp: a time -62135596801 seconds/);
  });

  it('decodes absent Latency, Geo and Network to zero values (Tyk panics, W10)', () => {
    const r = decodeAnalyticsProtobuf(encode({ Method: 'GET', ResponseCode: 200 }));
    expect(r.latency).toEqual({ total: 0, upstream: 0, gateway: 0 });
    expect(r.geo).toEqual(zeroGeo);
    expect(r.network).toEqual(zeroNetwork);
    expect([r.timestamp, r.expireAt]).toEqual([ZERO_TIME, ZERO_TIME]);
    expect([r.method, r.response_code, r.tags]).toEqual(['GET', 200, null]);
  });

  it('decodes an empty Geo and each absent part of Geo to zero values', () => {
    expect(decodeAnalyticsProtobuf(encode({ Geo: {} })).geo).toEqual(zeroGeo);
    expect(decodeAnalyticsProtobuf(encode({ Geo: { Country: { ISOCode: 'NZ' } } })).geo).toEqual({
      ...zeroGeo,
      country: { iso_code: 'NZ' },
    });
    expect(decodeAnalyticsProtobuf(encode({ Geo: { City: { GeoNameID: 7 } } })).geo.city).toEqual({ geoname_id: 7, names: null });
    expect(decodeAnalyticsProtobuf(encode({ Geo: { Location: { Latitude: -41.3 } } })).geo.location).toEqual({
      latitude: -41.3,
      longitude: 0,
      time_zone: '',
    });
  });

  it('maps the proto names that differ from Go and gives int64 and the enum as numbers', () => {
    const r = decodeAnalyticsProtobuf(encode({
      ContentLength: 2 ** 40 + 3,
      ResponseCode: -1,
      Network: { OpenConnections: 1, ClosedConnections: 2, BytesIn: 3, BytesOut: 2 ** 53 - 1 },
      TimeStamp: { seconds: -1, nanos: 500_000_000 },
      GraphQLStats: {
        IsGraphQL: true,
        Types: { Review: { fields: ['stars'] }, Empty: {} },
        OperationType: 'OPERATION_SUBSCRIPTION',
        HasError: true,
        GraphErrors: ['boom'],
      },
    }));
    expect([r.content_length, r.response_code, r.timestamp]).toEqual([2 ** 40 + 3, -1, { sec: -1, nsec: 500_000_000 }]);
    expect(r.network).toEqual({ open_connections: 1, closed_connections: 2, bytes_in: 3, bytes_out: 2 ** 53 - 1 });
    expect(r.graphql_stats).toEqual({
      Variables: '',
      RootFields: null,
      Types: { Review: ['stars'], Empty: null },
      Errors: [{ message: 'boom', path: null }],
      OperationType: 3,
      HasErrors: true,
      IsGraphQL: true,
    });
  });

  it('drops GraphQL and MCP stats unless their flag is set, as Tyk does', () => {
    const r = decodeAnalyticsProtobuf(encode({
      Host: 'h',
      GraphQLStats: { RootFields: ['q'], Variables: '{}', OperationType: 1 },
      MCPStats: { JSONRPCMethod: 'tools/call', PrimitiveName: 'x' },
    }));
    expect(r.graphql_stats).toEqual({
      Variables: '', RootFields: null, Types: null, Errors: null, OperationType: 0, HasErrors: false, IsGraphQL: false,
    });
    expect(r.mcp_stats).toEqual({ is_mcp: false, jsonrpc_method: '', primitive_type: '', primitive_name: '' });
  });

  it('ignores field numbers the schema does not know, as a newer gateway may send', () => {
    const unknownField = Buffer.from([0xf8, 0x07, 0x2a]); // field 127, varint 42
    const r = decodeAnalyticsProtobuf(Buffer.concat([encode({ Host: 'h' }), unknownField]));
    expect(r.host).toBe('h');
  });
});

describe('malformed elements give a DecodeError, never another throw', () => {
  const good = fixtures[14]!.bytes;

  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty bytes', Buffer.alloc(0), /empty element/],
    ['truncated record', good.subarray(0, good.length - 7), /not valid protobuf/],
    ['truncated tag varint', Buffer.from([0x9a]), /not valid protobuf/],
    ['garbage', Buffer.from('not a protobuf record at all \x00\xff'), /not valid protobuf/],
    ['invalid wire type 7', Buffer.from([0x0f]), /not valid protobuf/],
    ['length past the end', Buffer.from([0x0a, 0x10, 0x41]), /not valid protobuf/],
    ['invalid UTF-8 in a string', Buffer.from([0x0a, 0x02, 0xff, 0xfe]), /not valid protobuf/],
    // Host (1) as a varint
    ['wrong wire type at the top', Buffer.from([0x08, 0x01]), /^Host: wire type 0/],
    // Geo (23) as a varint where a message belongs
    ['scalar for a message', Buffer.from([0xb8, 0x01, 0x05]), /^Geo: wire type 0/],
    // Latency (19) { Total (1) as length-delimited }
    ['wrong wire type nested', Buffer.from([0x9a, 0x01, 0x03, 0x0a, 0x01, 0x41]), /^Latency\.Total: wire type 2/],
    // TimeStamp (13) { nanos (2) as fixed32 }
    ['wrong wire type in a time', Buffer.from([0x6a, 0x05, 0x15, 0, 0, 0, 0]), /^TimeStamp\.nanos: wire type 5/],
  ];

  it.each(cases)('%s', (_name, bytes, message) => {
    let caught: unknown;
    try {
      decodeAnalyticsProtobuf(bytes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as Error).message).toMatch(message);
  });
});
