import { decodeAnalyticsMsgpack, decodeUptimeMsgpack } from './msgpack.js';
import { decodeAnalyticsProtobuf } from './protobuf.js';
import type { AnalyticsRecord } from '../record/analytics-record.js';
import type { UptimeRecord } from '../record/uptime-record.js';

export { DecodeError } from './decode-error.js';

/** How the gateway encoded the elements of one Redis list; the key name decides it, as in Tyk Pump. */
export type Encoding = 'msgpack' | 'protobuf' | 'uptime';

export interface RecordOfEncoding {
  msgpack: AnalyticsRecord;
  protobuf: AnalyticsRecord;
  uptime: UptimeRecord;
}

export const decoders: { [E in Encoding]: (bytes: Uint8Array) => RecordOfEncoding[E] } = {
  msgpack: decodeAnalyticsMsgpack,
  protobuf: decodeAnalyticsProtobuf,
  uptime: decodeUptimeMsgpack,
};
