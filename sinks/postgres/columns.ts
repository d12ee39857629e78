import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { GoTime } from '../../src/record/go-time.js';

/*
 * tyk_analytics as Tyk's gorm fork lays it out (reference §7.2): json tag names, nested structs flattened
 * with their parent's json name, slices and maps as JSON text, `expireAt` case-sensitive.
 */

/** A column with the record's value for it, typed by the column's type so the writer needs no checks. */
export type Column =
  | { name: string; type: 'text'; value: (r: AnalyticsRecord) => string }
  | { name: string; type: 'bigint'; value: (r: AnalyticsRecord) => number }
  | { name: string; type: 'numeric'; value: (r: AnalyticsRecord) => number }
  | { name: string; type: 'timestamptz'; value: (r: AnalyticsRecord) => GoTime }
  | { name: string; type: 'boolean'; value: (r: AnalyticsRecord) => boolean };

const text = (name: string, value: (r: AnalyticsRecord) => string): Column => ({ name, type: 'text', value });
const bigint = (name: string, value: (r: AnalyticsRecord) => number): Column => ({ name, type: 'bigint', value });

export const ANALYTICS_COLUMNS: readonly Column[] = [
  text('method', (r) => r.method),
  text('host', (r) => r.host),
  text('path', (r) => r.path),
  text('rawpath', (r) => r.raw_path),
  bigint('contentlength', (r) => r.content_length),
  text('useragent', (r) => r.user_agent),
  bigint('day', (r) => r.day),
  bigint('month', (r) => r.month),
  bigint('year', (r) => r.year),
  bigint('hour', (r) => r.hour),
  bigint('responsecode', (r) => r.response_code),
  text('apikey', (r) => r.api_key),
  { name: 'timestamp', type: 'timestamptz', value: (r) => r.timestamp },
  text('apiversion', (r) => r.api_version),
  text('api_name', (r) => r.api_name),
  text('apiid', (r) => r.api_id),
  text('orgid', (r) => r.org_id),
  text('oauthid', (r) => r.oauth_id),
  bigint('requesttime', (r) => r.request_time),
  text('rawrequest', (r) => r.raw_request),
  text('rawresponse', (r) => r.raw_response),
  text('ipaddress', (r) => r.ip_address),
  text('geo_country_iso_code', (r) => r.geo.country.iso_code),
  bigint('geo_city_geoname_id', (r) => r.geo.city.geoname_id),
  text('geo_city_names', (r) => JSON.stringify(r.geo.city.names ?? {})),
  { name: 'geo_location_latitude', type: 'numeric', value: (r) => r.geo.location.latitude },
  { name: 'geo_location_longitude', type: 'numeric', value: (r) => r.geo.location.longitude },
  text('geo_location_time_zone', (r) => r.geo.location.time_zone),
  bigint('network_open_connections', (r) => r.network.open_connections),
  bigint('network_closed_connections', (r) => r.network.closed_connections),
  bigint('network_bytes_in', (r) => r.network.bytes_in),
  bigint('network_bytes_out', (r) => r.network.bytes_out),
  bigint('latency_total', (r) => r.latency.total),
  bigint('latency_upstream', (r) => r.latency.upstream),
  bigint('latency_gateway', (r) => r.latency.gateway),
  text('tags', (r) => JSON.stringify(r.tags ?? [])),
  text('alias', (r) => r.alias),
  { name: 'trackpath', type: 'boolean', value: (r) => r.track_path },
  { name: 'expireAt', type: 'timestamptz', value: (r) => r.expireAt },
  text('originalpath', (r) => r.original_path),
  text('listenpath', (r) => r.listen_path),
];

/** The six single-column indexes Tyk puts on each daily shard; Sluice puts them on the plain table too (W20). */
export const INDEXED_COLUMNS = ['responsecode', 'apikey', 'timestamp', 'apiid', 'orgid', 'oauthid'] as const;

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export const COLUMN_LIST = ANALYTICS_COLUMNS.map((c) => quoteIdent(c.name)).join(', ');
export const COLUMN_DEFINITIONS = ANALYTICS_COLUMNS.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(',\n  ');
