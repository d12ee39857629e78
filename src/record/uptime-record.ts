import type { GoTime } from './go-time.js';

/**
 * A host-checker report, as tyk-pump's `analytics.UptimeReportData` names it in JSON. The gateway's own
 * struct has no ID, so `_id` is always "" after decoding; it is kept so records compare with Tyk's JSON.
 */
export interface UptimeRecord {
  _id: string;
  url: string;
  request_time: number;
  response_code: number;
  tcp_error: boolean;
  server_error: boolean;
  day: number;
  month: number;
  year: number;
  hour: number;
  minute: number;
  timestamp: GoTime;
  ExpireAt: GoTime;
  api_id: string;
  org_id: string;
}
