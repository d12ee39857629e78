import { Packr } from 'msgpackr';
import type { AnalyticsRecord } from '../record/analytics-record.js';
import type { UptimeRecord } from '../record/uptime-record.js';
import type { GoTime } from '../record/go-time.js';
import { RecordType } from '../decode/protobuf.js';

/*
 * The inverse of src/decode/msgpack.ts: records encoded as a Tyk gateway encodes them with msgpack.v2 —
 * a map per struct keyed by Go field names in declaration order, every field present, times as
 * [seconds, nanoseconds]. Used by demo mode and tests to write what a gateway would write.
 */

const packr = new Packr({ useRecords: false, variableMapSize: true });

const time = (t: GoTime) => [t.sec, t.nsec];

function goAnalytics(r: AnalyticsRecord): Record<string, unknown> {
  return {
    Method: r.method, Host: r.host, Path: r.path, RawPath: r.raw_path, ContentLength: r.content_length,
    UserAgent: r.user_agent, Day: r.day, Month: r.month, Year: r.year, Hour: r.hour, ResponseCode: r.response_code,
    APIKey: r.api_key, TimeStamp: time(r.timestamp), APIVersion: r.api_version, APIName: r.api_name, APIID: r.api_id,
    OrgID: r.org_id, OauthID: r.oauth_id, RequestTime: r.request_time, RawRequest: r.raw_request,
    RawResponse: r.raw_response, IPAddress: r.ip_address,
    Geo: {
      Country: { ISOCode: r.geo.country.iso_code },
      City: { GeoNameID: r.geo.city.geoname_id, Names: r.geo.city.names },
      Location: { Latitude: r.geo.location.latitude, Longitude: r.geo.location.longitude, TimeZone: r.geo.location.time_zone },
    },
    Network: {
      OpenConnections: r.network.open_connections, ClosedConnection: r.network.closed_connections,
      BytesIn: r.network.bytes_in, BytesOut: r.network.bytes_out,
    },
    Latency: { Total: r.latency.total, Upstream: r.latency.upstream, Gateway: r.latency.gateway },
    Tags: r.tags, Alias: r.alias, TrackPath: r.track_path, ExpireAt: time(r.expireAt), ApiSchema: r.api_schema,
    OriginalPath: r.original_path, ListenPath: r.listen_path,
    GraphQLStats: {
      Variables: r.graphql_stats.Variables, RootFields: r.graphql_stats.RootFields, Types: r.graphql_stats.Types,
      Errors: r.graphql_stats.Errors?.map((e) => ({ Message: e.message, Path: e.path })) ?? null,
      OperationType: r.graphql_stats.OperationType, HasErrors: r.graphql_stats.HasErrors, IsGraphQL: r.graphql_stats.IsGraphQL,
    },
    MCPStats: {
      IsMCP: r.mcp_stats.is_mcp, JSONRPCMethod: r.mcp_stats.jsonrpc_method,
      PrimitiveType: r.mcp_stats.primitive_type, PrimitiveName: r.mcp_stats.primitive_name,
    },
    CollectionName: '',
  };
}

export function encodeAnalyticsMsgpack(record: AnalyticsRecord): Buffer {
  return packr.pack(goAnalytics(record));
}

export function encodeUptimeMsgpack(r: UptimeRecord): Buffer {
  return packr.pack({
    URL: r.url, RequestTime: r.request_time, ResponseCode: r.response_code, TCPError: r.tcp_error,
    ServerError: r.server_error, Day: r.day, Month: r.month, Year: r.year, Hour: r.hour, Minute: r.minute,
    TimeStamp: time(r.timestamp), ExpireAt: time(r.ExpireAt), APIID: r.api_id, OrgID: r.org_id,
  });
}

const timestamp = (t: GoTime) => ({ seconds: t.sec, nanos: t.nsec });

/** A record as a gateway with `serializer_type: protobuf` writes it (zone name "UTC"). */
export function encodeAnalyticsProtobuf(r: AnalyticsRecord): Buffer {
  const g = r.graphql_stats;
  const message = RecordType.fromObject({
    Host: r.host, Method: r.method, Path: r.path, RawPath: r.raw_path, ContentLength: r.content_length,
    UserAgent: r.user_agent, Day: r.day, Month: r.month, Year: r.year, Hour: r.hour, ResponseCode: r.response_code,
    APIKey: r.api_key, TimeStamp: timestamp(r.timestamp), APIVersion: r.api_version, APIName: r.api_name,
    APIID: r.api_id, OrgID: r.org_id, RequestTime: r.request_time,
    Latency: { Total: r.latency.total, Upstream: r.latency.upstream },
    RawRequest: r.raw_request, RawResponse: r.raw_response, IPAddress: r.ip_address,
    Geo: {
      Country: { ISOCode: r.geo.country.iso_code },
      City: { Names: r.geo.city.names ?? {}, GeoNameID: r.geo.city.geoname_id },
      Location: { Latitude: r.geo.location.latitude, Longitude: r.geo.location.longitude, TimeZone: r.geo.location.time_zone },
    },
    Network: {
      OpenConnections: r.network.open_connections, ClosedConnections: r.network.closed_connections,
      BytesIn: r.network.bytes_in, BytesOut: r.network.bytes_out,
    },
    Tags: r.tags ?? [], Alias: r.alias, TrackPath: r.track_path, ExpireAt: timestamp(r.expireAt), OauthID: r.oauth_id,
    TimeZone: 'UTC', ApiSchema: r.api_schema,
    GraphQLStats: g.IsGraphQL ? {
      IsGraphQL: true, OperationType: g.OperationType, Variables: g.Variables, RootFields: g.RootFields ?? [],
      HasError: g.HasErrors, GraphErrors: (g.Errors ?? []).map((e) => e.message),
      Types: Object.fromEntries(Object.entries(g.Types ?? {}).map(([k, v]) => [k, { fields: v ?? [] }])),
    } : undefined,
    MCPStats: r.mcp_stats.is_mcp ? {
      IsMCP: true, JSONRPCMethod: r.mcp_stats.jsonrpc_method, PrimitiveType: r.mcp_stats.primitive_type, PrimitiveName: r.mcp_stats.primitive_name,
    } : undefined,
    OriginalPath: r.original_path, ListenPath: r.listen_path,
  });
  return Buffer.from(RecordType.encode(message).finish());
}
