import { ZERO_ANALYTICS_RECORD, type AnalyticsRecord } from '../record/analytics-record.js';
import type { GoTime } from '../record/go-time.js';
import { DecodeError } from './decode-error.js';
import { unpackRange } from './msgpack.js';
import { FieldNames, locateFields, valueEnd } from './msgpack-skim.js';
import { unixTime, wireBool, wireInt, wireMap, wireString, wireStringList, wireTime } from './wire-values.js';

/*
 * An analytics record decoded for sinks that only aggregate (Sink.readsAggregatedFieldsOnly): the fields
 * the aggregation model, the pump filters and the skip rules read are decoded as decodeAnalyticsMsgpack
 * decodes them (the same wire readers under the same Go names; what is not read in place below goes
 * through the same msgpackr settings); every other field is skipped unread and keeps its zero value. The
 * raw dumps, user agent, city names and GraphQL details are most of a record's bytes, and building a Map
 * with key strings for every struct was most of decoding's garbage.
 *
 * The element must still be one well-formed msgpack map. A skipped field of the wrong type (a number where
 * Go has a string) is not looked at: such a record is aggregated here, where a pump that stores raw records
 * dead-letters it.
 */

const RECORD = new FieldNames([
  'ResponseCode', 'APIKey', 'TimeStamp', 'APIVersion', 'APIName', 'APIID', 'OrgID', 'OauthID', 'RequestTime',
  'Path', 'Tags', 'Alias', 'TrackPath', 'ExpireAt', 'Geo', 'Network', 'Latency', 'GraphQLStats', 'MCPStats',
] as const);
const GEO = new FieldNames(['Country'] as const);
const COUNTRY = new FieldNames(['ISOCode'] as const);
const NETWORK = new FieldNames(['OpenConnections', 'ClosedConnection', 'BytesIn', 'BytesOut'] as const);
const LATENCY = new FieldNames(['Total', 'Upstream'] as const);
const GRAPHQL = new FieldNames(['IsGraphQL'] as const);
const MCP = new FieldNames(['IsMCP'] as const);

/** Where one struct's wanted fields were found, reused record after record. */
class Located<N extends string> {
  private readonly positions: Int32Array;

  constructor(private readonly fields: FieldNames<N>) {
    this.positions = new Int32Array(fields.names.length);
  }

  /** Finds the fields of the struct at `at` (-1: absent); returns the position past it, or -1. */
  find(bytes: Uint8Array, at: number, path: string): number {
    if (at < 0) {
      this.positions.fill(-1);
      return -1;
    }
    const end = locateFields(bytes, at, this.fields, this.positions);
    if (end === 'not a map') {
      // Decoded only to be described in the error, worded as the full decoder words it.
      wireMap(unpackRange(bytes, at, valueEnd(bytes, at)), path);
      throw new DecodeError('expected a map', path);
    }
    return end === 'nil' ? -1 : end;
  }

  at(name: N): number {
    return this.positions[this.fields.index[name]]!;
  }
}

const record = new Located(RECORD);
const geo = new Located(GEO);
const country = new Located(COUNTRY);
const network = new Located(NETWORK);
const latency = new Located(LATENCY);
const graphql = new Located(GRAPHQL);
const mcp = new Located(MCP);

/*
 * The readers below run on positions inside an element already walked whole (Located.find of the
 * record), so no read runs past it. The forms a gateway writes are read in place; any other form goes
 * through msgpackr and the wire readers, errors included.
 */

function value(bytes: Uint8Array, at: number): unknown {
  return at < 0 ? undefined : unpackRange(bytes, at, valueEnd(bytes, at));
}

/** Integers up to 32 bits; 64-bit ones (as msgpackr reads them to a number) and floats go through msgpackr. */
function int(bytes: Uint8Array, at: number, field: string): number {
  if (at < 0) return 0;
  const type = bytes[at]!;
  if (type < 0x80) return type;
  if (type >= 0xe0) return type - 0x100;
  switch (type) {
    case 0xc0: return 0;
    case 0xcc: return bytes[at + 1]!;
    case 0xcd: return (bytes[at + 1]! << 8) | bytes[at + 2]!;
    case 0xce: return ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0;
    case 0xd0: return (bytes[at + 1]! << 24) >> 24;
    case 0xd1: return (((bytes[at + 1]! << 8) | bytes[at + 2]!) << 16) >> 16;
    case 0xd2: return (bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!;
    default: return wireInt(value(bytes, at), field);
  }
}

function bool(bytes: Uint8Array, at: number, field: string): boolean {
  if (at < 0) return false;
  const type = bytes[at];
  if (type === 0xc2 || type === 0xc0) return false;
  if (type === 0xc3) return true;
  return wireBool(value(bytes, at), field);
}

/** Strings of ASCII bytes read the same under any UTF-8 decoder; others go through msgpackr's. */
function string(bytes: Buffer, at: number, field: string): string {
  if (at < 0) return '';
  const type = bytes[at]!;
  if (type === 0xc0) return '';
  const start = type >= 0xa0 && type < 0xc0 ? at + 1 : type === 0xd9 ? at + 2 : -1;
  if (start > 0) {
    const end = start + (start === at + 1 ? type & 0x1f : bytes[at + 1]!);
    let i = start;
    while (i < end && bytes[i]! < 0x80) i++;
    if (i === end) return bytes.toString('latin1', start, end);
  }
  return wireString(value(bytes, at), field);
}

/** `[seconds, nanoseconds]`, as wireTime reads it. */
function time(bytes: Uint8Array, at: number, field: string): GoTime {
  if (at < 0 || bytes[at] !== 0x92) return wireTime(value(bytes, at), field);
  const nanoseconds = valueEnd(bytes, at + 1);
  return unixTime(int(bytes, at + 1, `${field}.seconds`), int(bytes, nanoseconds, `${field}.nanoseconds`), field);
}

export function decodeAggregatedMsgpack(bytes: Buffer): AnalyticsRecord {
  if (bytes[0] === 0xc0) throw new DecodeError('record is nil');
  if (record.find(bytes, 0, 'record') !== bytes.length) throw new DecodeError('expected one msgpack value, found trailing bytes');
  geo.find(bytes, record.at('Geo'), 'Geo');
  country.find(bytes, geo.at('Country'), 'Geo.Country');
  network.find(bytes, record.at('Network'), 'Network');
  latency.find(bytes, record.at('Latency'), 'Latency');
  graphql.find(bytes, record.at('GraphQLStats'), 'GraphQLStats');
  mcp.find(bytes, record.at('MCPStats'), 'MCPStats');
  const zero = ZERO_ANALYTICS_RECORD;
  return {
    ...zero,
    path: string(bytes, record.at('Path'), 'Path'),
    response_code: int(bytes, record.at('ResponseCode'), 'ResponseCode'),
    api_key: string(bytes, record.at('APIKey'), 'APIKey'),
    timestamp: time(bytes, record.at('TimeStamp'), 'TimeStamp'),
    api_version: string(bytes, record.at('APIVersion'), 'APIVersion'),
    api_name: string(bytes, record.at('APIName'), 'APIName'),
    api_id: string(bytes, record.at('APIID'), 'APIID'),
    org_id: string(bytes, record.at('OrgID'), 'OrgID'),
    oauth_id: string(bytes, record.at('OauthID'), 'OauthID'),
    request_time: int(bytes, record.at('RequestTime'), 'RequestTime'),
    geo: { ...zero.geo, country: { iso_code: string(bytes, country.at('ISOCode'), 'Geo.Country.ISOCode') } },
    network: {
      open_connections: int(bytes, network.at('OpenConnections'), 'Network.OpenConnections'),
      closed_connections: int(bytes, network.at('ClosedConnection'), 'Network.ClosedConnection'),
      bytes_in: int(bytes, network.at('BytesIn'), 'Network.BytesIn'),
      bytes_out: int(bytes, network.at('BytesOut'), 'Network.BytesOut'),
    },
    latency: { ...zero.latency, total: int(bytes, latency.at('Total'), 'Latency.Total'), upstream: int(bytes, latency.at('Upstream'), 'Latency.Upstream') },
    tags: wireStringList(value(bytes, record.at('Tags')), 'Tags'),
    alias: string(bytes, record.at('Alias'), 'Alias'),
    track_path: bool(bytes, record.at('TrackPath'), 'TrackPath'),
    expireAt: time(bytes, record.at('ExpireAt'), 'ExpireAt'),
    graphql_stats: { ...zero.graphql_stats, IsGraphQL: bool(bytes, graphql.at('IsGraphQL'), 'GraphQLStats.IsGraphQL') },
    mcp_stats: { ...zero.mcp_stats, is_mcp: bool(bytes, mcp.at('IsMCP'), 'MCPStats.IsMCP') },
  };
}
