import { Unpackr } from 'msgpackr';
import { DecodeError } from './decode-error.js';
import {
  wireBool, wireFloat, wireInt, wireMap, wireString, wireStringList, wireStringMap, wireTime, type WireMap,
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

const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false, int64AsType: 'number' });

function unpackOne(bytes: Uint8Array): WireMap {
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(bytes) as unknown[];
  } catch (err) {
    throw new DecodeError(`not valid msgpack: ${(err as Error).message}`);
  }
  if (values.length !== 1) throw new DecodeError(`expected one msgpack value, found ${values.length}`);
  const root = wireMap(values[0], 'record');
  if (root === null) throw new DecodeError('record is nil');
  return root;
}

function sub(m: WireMap, goName: string, path: string): WireMap {
  return wireMap(m[goName], path) ?? {};
}

function geo(m: WireMap): GeoData {
  const country = sub(m, 'Country', 'Geo.Country');
  const city = sub(m, 'City', 'Geo.City');
  const location = sub(m, 'Location', 'Geo.Location');
  return {
    country: { iso_code: wireString(country.ISOCode, 'Geo.Country.ISOCode') },
    city: {
      geoname_id: wireInt(city.GeoNameID, 'Geo.City.GeoNameID'),
      names: wireStringMap(city.Names, 'Geo.City.Names'),
    },
    location: {
      latitude: wireFloat(location.Latitude, 'Geo.Location.Latitude'),
      longitude: wireFloat(location.Longitude, 'Geo.Location.Longitude'),
      time_zone: wireString(location.TimeZone, 'Geo.Location.TimeZone'),
    },
  };
}

function network(m: WireMap): NetworkStats {
  return {
    open_connections: wireInt(m.OpenConnections, 'Network.OpenConnections'),
    closed_connections: wireInt(m.ClosedConnection, 'Network.ClosedConnection'),
    bytes_in: wireInt(m.BytesIn, 'Network.BytesIn'),
    bytes_out: wireInt(m.BytesOut, 'Network.BytesOut'),
  };
}

function latency(m: WireMap): Latency {
  return {
    total: wireInt(m.Total, 'Latency.Total'),
    upstream: wireInt(m.Upstream, 'Latency.Upstream'),
    gateway: wireInt(m.Gateway, 'Latency.Gateway'),
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
    const e = wireMap(item, field) ?? {};
    return { message: wireString(e.Message, `${field}.Message`), path: graphErrorPath(e.Path, `${field}.Path`) };
  });
}

function graphTypes(v: unknown): Record<string, string[] | null> | null {
  const m = wireMap(v, 'GraphQLStats.Types');
  if (m === null) return null;
  const out: Record<string, string[] | null> = {};
  for (const [k, item] of Object.entries(m)) out[k] = wireStringList(item, `GraphQLStats.Types.${k}`);
  return out;
}

function graphqlStats(m: WireMap): GraphQLStats {
  return {
    Variables: wireString(m.Variables, 'GraphQLStats.Variables'),
    RootFields: wireStringList(m.RootFields, 'GraphQLStats.RootFields'),
    Types: graphTypes(m.Types),
    Errors: graphErrors(m.Errors),
    OperationType: wireInt(m.OperationType, 'GraphQLStats.OperationType'),
    HasErrors: wireBool(m.HasErrors, 'GraphQLStats.HasErrors'),
    IsGraphQL: wireBool(m.IsGraphQL, 'GraphQLStats.IsGraphQL'),
  };
}

function mcpStats(m: WireMap): MCPStats {
  return {
    is_mcp: wireBool(m.IsMCP, 'MCPStats.IsMCP'),
    jsonrpc_method: wireString(m.JSONRPCMethod, 'MCPStats.JSONRPCMethod'),
    primitive_type: wireString(m.PrimitiveType, 'MCPStats.PrimitiveType'),
    primitive_name: wireString(m.PrimitiveName, 'MCPStats.PrimitiveName'),
  };
}

export function decodeAnalyticsMsgpack(bytes: Uint8Array): AnalyticsRecord {
  const m = unpackOne(bytes);
  return {
    method: wireString(m.Method, 'Method'),
    host: wireString(m.Host, 'Host'),
    path: wireString(m.Path, 'Path'),
    raw_path: wireString(m.RawPath, 'RawPath'),
    content_length: wireInt(m.ContentLength, 'ContentLength'),
    user_agent: wireString(m.UserAgent, 'UserAgent'),
    day: wireInt(m.Day, 'Day'),
    month: wireInt(m.Month, 'Month'),
    year: wireInt(m.Year, 'Year'),
    hour: wireInt(m.Hour, 'Hour'),
    response_code: wireInt(m.ResponseCode, 'ResponseCode'),
    api_key: wireString(m.APIKey, 'APIKey'),
    timestamp: wireTime(m.TimeStamp, 'TimeStamp'),
    api_version: wireString(m.APIVersion, 'APIVersion'),
    api_name: wireString(m.APIName, 'APIName'),
    api_id: wireString(m.APIID, 'APIID'),
    org_id: wireString(m.OrgID, 'OrgID'),
    oauth_id: wireString(m.OauthID, 'OauthID'),
    request_time: wireInt(m.RequestTime, 'RequestTime'),
    raw_request: wireString(m.RawRequest, 'RawRequest'),
    raw_response: wireString(m.RawResponse, 'RawResponse'),
    ip_address: wireString(m.IPAddress, 'IPAddress'),
    geo: geo(sub(m, 'Geo', 'Geo')),
    network: network(sub(m, 'Network', 'Network')),
    latency: latency(sub(m, 'Latency', 'Latency')),
    tags: wireStringList(m.Tags, 'Tags'),
    alias: wireString(m.Alias, 'Alias'),
    track_path: wireBool(m.TrackPath, 'TrackPath'),
    expireAt: wireTime(m.ExpireAt, 'ExpireAt'),
    api_schema: wireString(m.ApiSchema, 'ApiSchema'),
    original_path: wireString(m.OriginalPath, 'OriginalPath'),
    listen_path: wireString(m.ListenPath, 'ListenPath'),
    graphql_stats: graphqlStats(sub(m, 'GraphQLStats', 'GraphQLStats')),
    mcp_stats: mcpStats(sub(m, 'MCPStats', 'MCPStats')),
  };
}

export function decodeUptimeMsgpack(bytes: Uint8Array): UptimeRecord {
  const m = unpackOne(bytes);
  return {
    _id: '',
    url: wireString(m.URL, 'URL'),
    request_time: wireInt(m.RequestTime, 'RequestTime'),
    response_code: wireInt(m.ResponseCode, 'ResponseCode'),
    tcp_error: wireBool(m.TCPError, 'TCPError'),
    server_error: wireBool(m.ServerError, 'ServerError'),
    day: wireInt(m.Day, 'Day'),
    month: wireInt(m.Month, 'Month'),
    year: wireInt(m.Year, 'Year'),
    hour: wireInt(m.Hour, 'Hour'),
    minute: wireInt(m.Minute, 'Minute'),
    timestamp: wireTime(m.TimeStamp, 'TimeStamp'),
    ExpireAt: wireTime(m.ExpireAt, 'ExpireAt'),
    api_id: wireString(m.APIID, 'APIID'),
    org_id: wireString(m.OrgID, 'OrgID'),
  };
}
