import type { AnalyticsRecord } from '../record/analytics-record.js';
import { ZERO_TIME } from '../record/go-time.js';
import type { PumpConfig, PumpFilters } from '../config/types.js';
import type { SinkRecord } from '../../sinks/sink.js';

/*
 * Per-pump processing before a sink sees a batch (Tyk's filterData): blank or trim the raw HTTP dumps,
 * apply the pump's filters, zero its ignore_fields. A record is copied only when something changes, so
 * pumps without options share the decoded record.
 */

export interface ProcessingOptions {
  pump: PumpConfig;
  /** Top-level `max_record_size`; a non-zero pump value wins. */
  globalMaxRecordSize: number;
  /** Top-level `omit_detailed_recording`. Tyk ignores it (W7); Sluice applies it. */
  globalOmitDetailedRecording: boolean;
}

export function isFilteredOut(record: AnalyticsRecord, f: PumpFilters): boolean {
  if (f.skip_api_ids.includes(record.api_id)) return true;
  if (f.skip_org_ids.includes(record.org_id)) return true;
  if (f.skip_response_codes.includes(record.response_code)) return true;
  if (f.api_ids.length > 0 && !f.api_ids.includes(record.api_id)) return true;
  if (f.org_ids.length > 0 && !f.org_ids.includes(record.org_id)) return true;
  if (f.response_codes.length > 0 && !f.response_codes.includes(record.response_code)) return true;
  return false;
}

function truncateBytes(text: string, maxBytes: number): string {
  if (text.length <= maxBytes && Buffer.byteLength(text) <= maxBytes) return text;
  return Buffer.from(text).subarray(0, maxBytes).toString();
}

const ZERO_RECORD: AnalyticsRecord = {
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

/** The json names `ignore_fields` may list: the record's top-level fields. */
export const IGNORABLE_FIELDS: ReadonlySet<string> = new Set(Object.keys(ZERO_RECORD));

function reshape(record: AnalyticsRecord, opts: ProcessingOptions): AnalyticsRecord {
  const { pump } = opts;
  let out = record;
  const edit = (patch: Partial<AnalyticsRecord>) => {
    out = { ...out, ...patch };
  };
  if (pump.omit_detailed_recording || opts.globalOmitDetailedRecording) {
    if (out.raw_request !== '' || out.raw_response !== '') edit({ raw_request: '', raw_response: '' });
  } else {
    const limit = pump.max_record_size || opts.globalMaxRecordSize;
    if (limit > 0) {
      const raw_request = truncateBytes(out.raw_request, limit);
      const raw_response = truncateBytes(out.raw_response, limit);
      if (raw_request !== out.raw_request || raw_response !== out.raw_response) edit({ raw_request, raw_response });
    }
  }
  for (const field of pump.ignore_fields) {
    if (IGNORABLE_FIELDS.has(field)) edit({ [field]: ZERO_RECORD[field as keyof AnalyticsRecord] });
  }
  return out;
}

/** The record as this pump receives it, or null when the pump's filters drop it. */
export function processForPump(item: SinkRecord<AnalyticsRecord>, opts: ProcessingOptions): SinkRecord<AnalyticsRecord> | null {
  const record = reshape(item.record, opts);
  if (isFilteredOut(record, opts.pump.filters)) return null;
  return record === item.record ? item : { ...item, record };
}
