import { Int32, Long, ObjectId, type Document } from 'mongodb';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { timeToDate, type GoTime } from '../../src/record/go-time.js';

/*
 * Raw analytics records as Tyk's BSON documents (reference §3.1–3.2): lower-cased Go names, `expireAt`,
 * nested geo/network/latency, times as BSON dates. Go `int` fields go out as int32 and `int64` fields as
 * int64, as the Go driver writes them, so readers that decode into Go structs see the types they expect.
 * api_schema, graphql_stats and mcp_stats are not stored, as in Tyk.
 */

const OBJECT_ID_BYTES = 12;
const TIME_BYTES = 4;

/**
 * A deterministic ObjectId: the record's timestamp seconds (4 bytes, so ids sort by time as Tyk's do)
 * followed by 8 bytes of the record id the pipeline derives from the raw bytes. A redelivered record gets
 * the same `_id`, so the unordered insert refuses it as a duplicate instead of storing it twice.
 */
export function recordObjectId(time: GoTime, recordId: string): ObjectId {
  const bytes = Buffer.alloc(OBJECT_ID_BYTES);
  // Seconds before 1970 or after 2106 wrap; they still give a stable id, which is all that matters here.
  bytes.writeUInt32BE(((time.sec % 2 ** 32) + 2 ** 32) % 2 ** 32, 0);
  Buffer.from(recordId.padEnd(16, '0').slice(0, 16), 'hex').copy(bytes, TIME_BYTES);
  return new ObjectId(bytes);
}

/** Tyk's marker for a record whose raw request and response made the document too large. */
export const DOCUMENT_TOO_LARGE_MARKER = Buffer.from('Document too large, not writing raw request and raw response!').toString('base64');

const int = (n: number) => new Int32(n);
const int64 = (n: number) => Long.fromNumber(n);

export function analyticsDocument(r: AnalyticsRecord, _id: ObjectId): Document {
  return {
    _id,
    method: r.method,
    host: r.host,
    path: r.path,
    rawpath: r.raw_path,
    contentlength: int64(r.content_length),
    useragent: r.user_agent,
    day: int(r.day),
    month: int(r.month),
    year: int(r.year),
    hour: int(r.hour),
    responsecode: int(r.response_code),
    apikey: r.api_key,
    timestamp: timeToDate(r.timestamp),
    apiversion: r.api_version,
    apiname: r.api_name,
    apiid: r.api_id,
    orgid: r.org_id,
    oauthid: r.oauth_id,
    requesttime: int64(r.request_time),
    rawrequest: r.raw_request,
    rawresponse: r.raw_response,
    ipaddress: r.ip_address,
    geo: {
      country: { isocode: r.geo.country.iso_code },
      city: { geonameid: int64(r.geo.city.geoname_id), names: r.geo.city.names },
      location: { latitude: r.geo.location.latitude, longitude: r.geo.location.longitude, timezone: r.geo.location.time_zone },
    },
    network: {
      openconnections: int64(r.network.open_connections),
      closedconnection: int64(r.network.closed_connections),
      bytesin: int64(r.network.bytes_in),
      bytesout: int64(r.network.bytes_out),
    },
    latency: { total: int64(r.latency.total), upstream: int64(r.latency.upstream), gateway: int64(r.latency.gateway) },
    tags: r.tags,
    alias: r.alias,
    trackpath: r.track_path,
    expireAt: timeToDate(r.expireAt),
    originalpath: r.original_path,
    listenpath: r.listen_path,
  };
}
