import { ZERO_TIME, type GoTime } from './go-time.js';

/*
 * The decoded gateway analytics record. Field names are the json tags of tyk-pump's
 * `analytics.AnalyticsRecord` (GraphQLStats keeps Go names: it has no json tags), so a record compares
 * directly with the `record` of the golden fixtures and with what Tyk's own tooling prints.
 * Slices and maps keep Go's nil-versus-empty distinction as null versus [] / {}.
 */

export interface Country {
  iso_code: string;
}

export interface City {
  geoname_id: number;
  names: Record<string, string> | null;
}

export interface GeoLocation {
  latitude: number;
  longitude: number;
  time_zone: string;
}

export interface GeoData {
  country: Country;
  city: City;
  location: GeoLocation;
}

export interface NetworkStats {
  open_connections: number;
  closed_connections: number;
  bytes_in: number;
  bytes_out: number;
}

export interface Latency {
  total: number;
  upstream: number;
  gateway: number;
}

export interface GraphError {
  message: string;
  path: Array<string | number> | null;
}

/** 0 unknown, 1 query, 2 mutation, 3 subscription. */
export type GraphQLOperation = number;

export interface GraphQLStats {
  Variables: string;
  RootFields: string[] | null;
  Types: Record<string, string[] | null> | null;
  Errors: GraphError[] | null;
  OperationType: GraphQLOperation;
  HasErrors: boolean;
  IsGraphQL: boolean;
}

export interface MCPStats {
  is_mcp: boolean;
  jsonrpc_method: string;
  primitive_type: string;
  primitive_name: string;
}

export interface AnalyticsRecord {
  method: string;
  host: string;
  path: string;
  raw_path: string;
  content_length: number;
  user_agent: string;
  day: number;
  month: number;
  year: number;
  hour: number;
  response_code: number;
  api_key: string;
  timestamp: GoTime;
  api_version: string;
  api_name: string;
  api_id: string;
  org_id: string;
  oauth_id: string;
  request_time: number;
  raw_request: string;
  raw_response: string;
  ip_address: string;
  geo: GeoData;
  network: NetworkStats;
  latency: Latency;
  tags: string[] | null;
  alias: string;
  track_path: boolean;
  expireAt: GoTime;
  api_schema: string;
  original_path: string;
  listen_path: string;
  graphql_stats: GraphQLStats;
  mcp_stats: MCPStats;
}

/** Every field at Go's zero value: what `ignore_fields` leaves, and what a field never decoded reads as. */
export const ZERO_ANALYTICS_RECORD: AnalyticsRecord = {
  method: '', host: '', path: '', raw_path: '', content_length: 0, user_agent: '', day: 0, month: 0, year: 0,
  hour: 0, response_code: 0, api_key: '', timestamp: ZERO_TIME, api_version: '', api_name: '', api_id: '',
  org_id: '', oauth_id: '', request_time: 0, raw_request: '', raw_response: '', ip_address: '',
  geo: { country: { iso_code: '' }, city: { geoname_id: 0, names: null }, location: { latitude: 0, longitude: 0, time_zone: '' } },
  network: { open_connections: 0, closed_connections: 0, bytes_in: 0, bytes_out: 0 },
  latency: { total: 0, upstream: 0, gateway: 0 },
  tags: null, alias: '', track_path: false, expireAt: ZERO_TIME, api_schema: '', original_path: '', listen_path: '',
  graphql_stats: { Variables: '', RootFields: null, Types: null, Errors: null, OperationType: 0, HasErrors: false, IsGraphQL: false },
  mcp_stats: { is_mcp: false, jsonrpc_method: '', primitive_type: '', primitive_name: '' },
};

/** Tyk's `IsGraphRecord`: classification follows the stats flag, never the tags. */
export function isGraphRecord(r: AnalyticsRecord): boolean {
  return r.graphql_stats.IsGraphQL;
}

export function isMcpRecord(r: AnalyticsRecord): boolean {
  return r.mcp_stats.is_mcp;
}
