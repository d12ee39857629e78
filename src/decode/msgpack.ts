import { Unpackr } from 'msgpackr';
import { DecodeError } from './decode-error.js';
import { valueEnd } from './msgpack-skim.js';
import {
  EMPTY_MAP, wireBool, wireFloat, wireInt, wireMap, wireString, wireStringKeyedMap, wireStringList, wireStringMap, wireTime, type WireMap,
} from './wire-values.js';
import type {
  AnalyticsRecord, GeoData, GraphError, GraphQLStats, Latency, MCPStats, NetworkStats,
} from '../record/analytics-record.js';
import type { UptimeRecord } from '../record/uptime-record.js';

/*
 * Decoding of the msgpack that gopkg.in/vmihailenco/msgpack.v2 writes for tyk-pump's structs: maps keyed
 * by Go field names. msgpackr does the msgpack; this module maps Go names onto the record and checks
 * every value's type, so a confused record is rejected with the field that is wrong.
 */

// Maps as Map: a Go struct arrives as a map of 35 keys, and an object built key by key from that many
// goes into V8's dictionary mode, which made unpacking about a fifth slower.
const unpackr = new Unpackr({ mapsAsObjects: false, useRecords: false, int64AsType: 'number' });

/** The one value at bytes[start, end), as msgpackr decodes it: for values found by skimming (msgpack-skim.ts). */
export function unpackRange(bytes: Uint8Array, start: number, end: number): unknown {
  try {
    return unpackr.unpack(bytes, { start, end });
  } catch (err) {
    throw new DecodeError(`not valid msgpack: ${(err as Error).message}`);
  }
}

/**
 * How many msgpack values the element holds, walked without decoding (valueEnd). msgpackr sizes an array by
 * its header before reading any item: a 50-byte poison element whose header declared 30 million items made
 * it allocate 240 MB and ran Sluice out of heap. Every value takes at least a byte, so the walk refuses any
 * count larger than the bytes left, and what msgpackr allocates afterwards is bounded by the element's size.
 */
function countValues(bytes: Uint8Array): number {
  let count = 0;
  for (let at = 0; at < bytes.length; count++) at = valueEnd(bytes, at);
  return count;
}

function unpackOne(bytes: Uint8Array): WireMap {
  const count = countValues(bytes);
  if (count !== 1) throw new DecodeError(`expected one msgpack value, found ${count}`);
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch (err) {
    throw new DecodeError(`not valid msgpack: ${(err as Error).message}`);
  }
  const root = wireMap(value, 'record');
  if (root === null) throw new DecodeError('record is nil');
  return root;
}

function sub(m: WireMap, goName: string, path: string): WireMap {
  return wireMap(m.get(goName), path) ?? EMPTY_MAP;
}

function geo(m: WireMap): GeoData {
  const country = sub(m, 'Country', 'Geo.Country');
  const city = sub(m, 'City', 'Geo.City');
  const location = sub(m, 'Location', 'Geo.Location');
  return {
    country: { iso_code: wireString(country.get('ISOCode'), 'Geo.Country.ISOCode') },
    city: {
      geoname_id: wireInt(city.get('GeoNameID'), 'Geo.City.GeoNameID'),
      names: wireStringMap(city.get('Names'), 'Geo.City.Names'),
    },
    location: {
      latitude: wireFloat(location.get('Latitude'), 'Geo.Location.Latitude'),
      longitude: wireFloat(location.get('Longitude'), 'Geo.Location.Longitude'),
      time_zone: wireString(location.get('TimeZone'), 'Geo.Location.TimeZone'),
    },
  };
}

function network(m: WireMap): NetworkStats {
  return {
    open_connections: wireInt(m.get('OpenConnections'), 'Network.OpenConnections'),
    closed_connections: wireInt(m.get('ClosedConnection'), 'Network.ClosedConnection'),
    bytes_in: wireInt(m.get('BytesIn'), 'Network.BytesIn'),
    bytes_out: wireInt(m.get('BytesOut'), 'Network.BytesOut'),
  };
}

function latency(m: WireMap): Latency {
  return {
    total: wireInt(m.get('Total'), 'Latency.Total'),
    upstream: wireInt(m.get('Upstream'), 'Latency.Upstream'),
    gateway: wireInt(m.get('Gateway'), 'Latency.Gateway'),
  };
}

function graphErrorPath(v: unknown, field: string): Array<string | number> | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new DecodeError('expected an array', field);
  return v.map((item, i) => {
    if (typeof item === 'string') return item;
    return wireInt(item, `${field}[${i}]`);
  });
}

function graphErrors(v: unknown): GraphError[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new DecodeError('expected an array', 'GraphQLStats.Errors');
  return v.map((item, i) => {
    const field = `GraphQLStats.Errors[${i}]`;
    const e = wireMap(item, field) ?? EMPTY_MAP;
    return { message: wireString(e.get('Message'), `${field}.Message`), path: graphErrorPath(e.get('Path'), `${field}.Path`) };
  });
}

function graphTypes(v: unknown): Record<string, string[] | null> | null {
  return wireStringKeyedMap(v, 'GraphQLStats.Types', wireStringList);
}

function graphqlStats(m: WireMap): GraphQLStats {
  return {
    Variables: wireString(m.get('Variables'), 'GraphQLStats.Variables'),
    RootFields: wireStringList(m.get('RootFields'), 'GraphQLStats.RootFields'),
    Types: graphTypes(m.get('Types')),
    Errors: graphErrors(m.get('Errors')),
    OperationType: wireInt(m.get('OperationType'), 'GraphQLStats.OperationType'),
    HasErrors: wireBool(m.get('HasErrors'), 'GraphQLStats.HasErrors'),
    IsGraphQL: wireBool(m.get('IsGraphQL'), 'GraphQLStats.IsGraphQL'),
  };
}

function mcpStats(m: WireMap): MCPStats {
  return {
    is_mcp: wireBool(m.get('IsMCP'), 'MCPStats.IsMCP'),
    jsonrpc_method: wireString(m.get('JSONRPCMethod'), 'MCPStats.JSONRPCMethod'),
    primitive_type: wireString(m.get('PrimitiveType'), 'MCPStats.PrimitiveType'),
    primitive_name: wireString(m.get('PrimitiveName'), 'MCPStats.PrimitiveName'),
  };
}

export function decodeAnalyticsMsgpack(bytes: Uint8Array): AnalyticsRecord {
  const m = unpackOne(bytes);
  return {
    method: wireString(m.get('Method'), 'Method'),
    host: wireString(m.get('Host'), 'Host'),
    path: wireString(m.get('Path'), 'Path'),
    raw_path: wireString(m.get('RawPath'), 'RawPath'),
    content_length: wireInt(m.get('ContentLength'), 'ContentLength'),
    user_agent: wireString(m.get('UserAgent'), 'UserAgent'),
    day: wireInt(m.get('Day'), 'Day'),
    month: wireInt(m.get('Month'), 'Month'),
    year: wireInt(m.get('Year'), 'Year'),
    hour: wireInt(m.get('Hour'), 'Hour'),
    response_code: wireInt(m.get('ResponseCode'), 'ResponseCode'),
    api_key: wireString(m.get('APIKey'), 'APIKey'),
    timestamp: wireTime(m.get('TimeStamp'), 'TimeStamp'),
    api_version: wireString(m.get('APIVersion'), 'APIVersion'),
    api_name: wireString(m.get('APIName'), 'APIName'),
    api_id: wireString(m.get('APIID'), 'APIID'),
    org_id: wireString(m.get('OrgID'), 'OrgID'),
    oauth_id: wireString(m.get('OauthID'), 'OauthID'),
    request_time: wireInt(m.get('RequestTime'), 'RequestTime'),
    raw_request: wireString(m.get('RawRequest'), 'RawRequest'),
    raw_response: wireString(m.get('RawResponse'), 'RawResponse'),
    ip_address: wireString(m.get('IPAddress'), 'IPAddress'),
    geo: geo(sub(m, 'Geo', 'Geo')),
    network: network(sub(m, 'Network', 'Network')),
    latency: latency(sub(m, 'Latency', 'Latency')),
    tags: wireStringList(m.get('Tags'), 'Tags'),
    alias: wireString(m.get('Alias'), 'Alias'),
    track_path: wireBool(m.get('TrackPath'), 'TrackPath'),
    expireAt: wireTime(m.get('ExpireAt'), 'ExpireAt'),
    api_schema: wireString(m.get('ApiSchema'), 'ApiSchema'),
    original_path: wireString(m.get('OriginalPath'), 'OriginalPath'),
    listen_path: wireString(m.get('ListenPath'), 'ListenPath'),
    graphql_stats: graphqlStats(sub(m, 'GraphQLStats', 'GraphQLStats')),
    mcp_stats: mcpStats(sub(m, 'MCPStats', 'MCPStats')),
  };
}

export function decodeUptimeMsgpack(bytes: Uint8Array): UptimeRecord {
  const m = unpackOne(bytes);
  return {
    _id: '',
    url: wireString(m.get('URL'), 'URL'),
    request_time: wireInt(m.get('RequestTime'), 'RequestTime'),
    response_code: wireInt(m.get('ResponseCode'), 'ResponseCode'),
    tcp_error: wireBool(m.get('TCPError'), 'TCPError'),
    server_error: wireBool(m.get('ServerError'), 'ServerError'),
    day: wireInt(m.get('Day'), 'Day'),
    month: wireInt(m.get('Month'), 'Month'),
    year: wireInt(m.get('Year'), 'Year'),
    hour: wireInt(m.get('Hour'), 'Hour'),
    minute: wireInt(m.get('Minute'), 'Minute'),
    timestamp: wireTime(m.get('TimeStamp'), 'TimeStamp'),
    ExpireAt: wireTime(m.get('ExpireAt'), 'ExpireAt'),
    api_id: wireString(m.get('APIID'), 'APIID'),
    org_id: wireString(m.get('OrgID'), 'OrgID'),
  };
}
