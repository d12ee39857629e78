import { ZERO_ANALYTICS_RECORD, type AnalyticsRecord } from '../record/analytics-record.js';
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

/** The json names `ignore_fields` may list: the record's top-level fields. */
export const IGNORABLE_FIELDS: ReadonlySet<string> = new Set(Object.keys(ZERO_ANALYTICS_RECORD));

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
    if (IGNORABLE_FIELDS.has(field)) edit({ [field]: ZERO_ANALYTICS_RECORD[field as keyof AnalyticsRecord] });
  }
  return out;
}

/** The record as this pump receives it, or null when the pump's filters drop it. */
export function processForPump(item: SinkRecord<AnalyticsRecord>, opts: ProcessingOptions): SinkRecord<AnalyticsRecord> | null {
  const record = reshape(item.record, opts);
  if (isFilteredOut(record, opts.pump.filters)) return null;
  return record === item.record ? item : { ...item, record };
}
