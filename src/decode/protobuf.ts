import { DecodeError } from './decode-error.js';
import type { AnalyticsRecord } from '../record/analytics-record.js';

/** Placeholder until the protobuf decoder lands (issue 3): every element is dead-lettered with this reason. */
export function decodeAnalyticsProtobuf(_bytes: Uint8Array): AnalyticsRecord {
  throw new DecodeError('protobuf decoding is not implemented yet');
}
