import protobuf from 'protobufjs';
import { readAsset } from '../assets.js';
import { errorMessage } from '../errors.js';
import { DecodeError } from './decode-error.js';
import { ZERO_TIME, type GoTime } from '../record/go-time.js';
import { storableTime } from './wire-values.js';
import type {
  AnalyticsRecord, GeoData, GraphQLStats, Latency, MCPStats, NetworkStats,
} from '../record/analytics-record.js';

/*
 * Decoding of the `_protobuf` keys: tyk-pump's `normalproto.AnalyticsRecord` (analytics.proto beside this
 * file). protobufjs reads the wire; this module maps it onto the record the msgpack path produces.
 *
 * Where the wire cannot say nil or empty, the record gets what Tyk Pump's own protobuf decoder gives, so
 * the sinks write the same rows for the same bytes: an absent repeated or map field is null, except that a
 * GraphQL record always has `Types` {} and `Errors` [], which Tyk builds unconditionally.
 */

function loadRecordType(): protobuf.Type {
  const root = new protobuf.Root();
  // parse() only lists imports; Timestamp comes from protobufjs's bundled well-known types.
  const timestamp = protobuf.common.get('google/protobuf/timestamp.proto');
  if (timestamp?.nested === undefined) throw new Error('protobufjs lacks google/protobuf/timestamp.proto');
  root.addJSON(timestamp.nested);
  protobuf.parse(readAsset(import.meta.url, 'analytics.proto'), root, { keepCase: true });
  root.resolveAll();
  return root.lookupType('normalproto.AnalyticsRecord');
}

/** The message type, also used by demo mode to write what a protobuf gateway writes. */
export const RecordType = loadRecordType();

/* The decoded messages as protobufjs builds them: scalars default to zero, absent messages are null. */
type Int64 = number | protobuf.Long;
interface PbTimestamp { seconds: Int64; nanos: number }
interface PbLatency { Total: Int64; Upstream: Int64 }
interface PbGeo { Country: { ISOCode: string } | null; City: PbCity | null; Location: PbLocation | null }
interface PbCity { Names: Record<string, string>; GeoNameID: number }
interface PbLocation { Latitude: number; Longitude: number; TimeZone: string }
interface PbNetwork { OpenConnections: Int64; ClosedConnections: Int64; BytesIn: Int64; BytesOut: Int64 }
interface PbGraphQLStats {
  IsGraphQL: boolean;
  Types: Record<string, { fields: string[] }>;
  OperationType: number;
  Variables: string;
  RootFields: string[];
  HasError: boolean;
  GraphErrors: string[];
}
interface PbMCPStats { IsMCP: boolean; JSONRPCMethod: string; PrimitiveType: string; PrimitiveName: string }
interface PbRecord {
  Host: string; Method: string; Path: string; RawPath: string; ContentLength: Int64; UserAgent: string;
  Day: number; Month: number; Year: number; Hour: number; ResponseCode: number; APIKey: string;
  TimeStamp: PbTimestamp | null; APIVersion: string; APIName: string; APIID: string; OrgID: string;
  RequestTime: Int64; Latency: PbLatency | null; RawRequest: string; RawResponse: string; IPAddress: string;
  Geo: PbGeo | null; Network: PbNetwork | null; Tags: string[]; Alias: string; TrackPath: boolean;
  ExpireAt: PbTimestamp | null; OauthID: string; ApiSchema: string; GraphQLStats: PbGraphQLStats | null;
  MCPStats: PbMCPStats | null; OriginalPath: string; ListenPath: string;
}

/** protobufjs gives int64 as a Long (long.js is installed); counters beyond 2^53 lose their lowest bits. */
function int64(v: Int64 | undefined): number {
  if (v === undefined) return 0;
  return typeof v === 'number' ? v : v.high * 0x1_0000_0000 + (v.low >>> 0);
}

/*
 * Tyk moves both times into the zone named by TimeZone (field 30) and zeroes them when Go cannot load
 * that name. A Sluice record holds the instant only, so the zone changes nothing and an unloadable name
 * does not cost the record its times. An absent Timestamp is Go's zero time, as an absent msgpack key is.
 */
function time(t: PbTimestamp | null, field: string): GoTime {
  if (t === null) return ZERO_TIME;
  const carry = Math.floor(t.nanos / 1e9);
  return storableTime({ sec: int64(t.seconds) + carry, nsec: t.nanos - carry * 1e9 }, field);
}

function list(v: string[]): string[] | null {
  return v.length === 0 ? null : v;
}

function stringMap(v: Record<string, string>): Record<string, string> | null {
  return Object.keys(v).length === 0 ? null : v;
}

/* Tyk dereferences Latency, Geo and its parts, and Network unchecked and panics when one is absent (W10). */

function latency(m: PbLatency | null): Latency {
  return { total: int64(m?.Total), upstream: int64(m?.Upstream), gateway: 0 };
}

function geo(m: PbGeo | null): GeoData {
  return {
    country: { iso_code: m?.Country?.ISOCode ?? '' },
    // Tyk sets Names to nil on decode although the gateway sends them; Sluice keeps them.
    city: { geoname_id: m?.City?.GeoNameID ?? 0, names: m?.City ? stringMap(m.City.Names) : null },
    location: {
      latitude: m?.Location?.Latitude ?? 0,
      longitude: m?.Location?.Longitude ?? 0,
      time_zone: m?.Location?.TimeZone ?? '',
    },
  };
}

function network(m: PbNetwork | null): NetworkStats {
  return {
    open_connections: int64(m?.OpenConnections),
    closed_connections: int64(m?.ClosedConnections),
    bytes_in: int64(m?.BytesIn),
    bytes_out: int64(m?.BytesOut),
  };
}

function graphTypes(m: Record<string, { fields: string[] }>): Record<string, string[] | null> {
  const out: Record<string, string[] | null> = {};
  for (const [name, { fields }] of Object.entries(m)) out[name] = list(fields);
  return out;
}

/** The gateway sends the stats only for a GraphQL record, and Tyk reads them only then. */
function graphqlStats(m: PbGraphQLStats | null): GraphQLStats {
  if (!m?.IsGraphQL) {
    return { Variables: '', RootFields: null, Types: null, Errors: null, OperationType: 0, HasErrors: false, IsGraphQL: false };
  }
  return {
    Variables: m.Variables,
    RootFields: list(m.RootFields),
    Types: graphTypes(m.Types),
    Errors: m.GraphErrors.map((message) => ({ message, path: null })),
    OperationType: m.OperationType,
    HasErrors: m.HasError,
    IsGraphQL: true,
  };
}

function mcpStats(m: PbMCPStats | null): MCPStats {
  if (!m?.IsMCP) return { is_mcp: false, jsonrpc_method: '', primitive_type: '', primitive_name: '' };
  return { is_mcp: true, jsonrpc_method: m.JSONRPCMethod, primitive_type: m.PrimitiveType, primitive_name: m.PrimitiveName };
}

/*
 * protobufjs skips a known field whose wire type does not match the schema as if it were unknown (so does
 * Go), which would turn a corrupt element into a record of zeros. Kept unknowns with a known field number
 * are exactly those fields. Truly unknown numbers (a newer gateway) stay ignored.
 */
function rejectWrongWireTypes(message: protobuf.Message, type: protobuf.Type, path: string): void {
  for (const raw of (message as { $unknowns?: Uint8Array[] }).$unknowns ?? []) {
    const tag = protobuf.Reader.create(raw).uint32();
    const field = type.fieldsById[tag >>> 3];
    if (field) throw new DecodeError(`wire type ${tag & 7} does not fit a ${field.type}`, path + field.name);
  }
  for (const field of type.fieldsArray) {
    if (!(field.resolvedType instanceof protobuf.Type)) continue;
    const value = (message as unknown as Record<string, unknown>)[field.name];
    const children = field.map ? Object.values(value as object) : field.repeated ? (value as unknown[]) : [value];
    for (const child of children) {
      if (child != null) rejectWrongWireTypes(child as protobuf.Message, field.resolvedType, `${path}${field.name}.`);
    }
  }
}

function readWire(bytes: Uint8Array): PbRecord {
  // proto3 would read no bytes as a record of zeros; the gateway never writes one, so it is corruption.
  if (bytes.length === 0) throw new DecodeError('empty element');
  const reader = protobuf.Reader.create(bytes);
  reader.discardUnknown = false;
  let message: protobuf.Message;
  try {
    message = RecordType.decode(reader);
  } catch (err) {
    throw new DecodeError(`not valid protobuf: ${errorMessage(err)}`);
  }
  rejectWrongWireTypes(message, RecordType, '');
  return message as unknown as PbRecord;
}

export function decodeAnalyticsProtobuf(bytes: Uint8Array): AnalyticsRecord {
  const m = readWire(bytes);
  return {
    method: m.Method,
    host: m.Host,
    path: m.Path,
    raw_path: m.RawPath,
    content_length: int64(m.ContentLength),
    user_agent: m.UserAgent,
    day: m.Day,
    month: m.Month,
    year: m.Year,
    hour: m.Hour,
    response_code: m.ResponseCode,
    api_key: m.APIKey,
    timestamp: time(m.TimeStamp, 'TimeStamp'),
    api_version: m.APIVersion,
    api_name: m.APIName,
    api_id: m.APIID,
    org_id: m.OrgID,
    oauth_id: m.OauthID,
    request_time: int64(m.RequestTime),
    raw_request: m.RawRequest,
    raw_response: m.RawResponse,
    ip_address: m.IPAddress,
    geo: geo(m.Geo),
    network: network(m.Network),
    latency: latency(m.Latency),
    tags: list(m.Tags),
    alias: m.Alias,
    track_path: m.TrackPath,
    expireAt: time(m.ExpireAt, 'ExpireAt'),
    api_schema: m.ApiSchema,
    original_path: m.OriginalPath,
    listen_path: m.ListenPath,
    graphql_stats: graphqlStats(m.GraphQLStats),
    mcp_stats: mcpStats(m.MCPStats),
  };
}
