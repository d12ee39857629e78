import type { PumpConfig } from '../../src/config/types.js';
import { isMcpRecord, type AnalyticsRecord } from '../../src/record/analytics-record.js';
import type { SinkContext } from '../context.js';
import type { Sink, SinkRecord } from '../sink.js';
import { estimatedDocumentBytes, type Sized } from './batching.js';
import type { MongoSinkHooks } from './connection.js';
import { DOCUMENT_TOO_LARGE_MARKER, analyticsDocument, recordObjectId } from './documents.js';
import type { IdentifiedDocument } from './insert.js';
import { RawMongoSink, readRawCollectionSettings } from './raw-sink.js';

/** Network-stats-only records (ResponseCode -1) and MCP records never reach Tyk's raw collection. */
function isStoredRaw(r: AnalyticsRecord): boolean {
  return r.response_code !== -1 && !isMcpRecord(r);
}

/**
 * Tyk keeps an oversized record but drops its raw HTTP dumps for a marker. The smaller size is what the
 * batch packing sees, so the record no longer needs a batch of its own.
 */
function withinDocumentLimit(r: AnalyticsRecord, maxDocumentBytes: number): AnalyticsRecord {
  if (estimatedDocumentBytes(r) <= maxDocumentBytes) return r;
  return { ...r, raw_request: '', raw_response: DOCUMENT_TOO_LARGE_MARKER };
}

export function rawAnalyticsDocuments(records: readonly SinkRecord<AnalyticsRecord>[], maxDocumentBytes: number): Sized<IdentifiedDocument>[] {
  return records
    .filter(({ record }) => isStoredRaw(record))
    .map(({ id, record }) => {
      const kept = withinDocumentLimit(record, maxDocumentBytes);
      const doc = analyticsDocument(kept, recordObjectId(kept.timestamp, id));
      return { item: { recordId: id, doc }, bytes: estimatedDocumentBytes(kept) };
    });
}

/** Tyk's `mongo` pump: raw analytics records into `collection_name`. */
export function createMongoSink(pump: PumpConfig, ctx: SinkContext, hooks: MongoSinkHooks = {}): Sink<AnalyticsRecord> {
  return new RawMongoSink<AnalyticsRecord>({
    name: pump.name,
    readSettings: () => readRawCollectionSettings(pump.name, pump.meta, pump.timeout),
    buildDocuments: (records, settings) => rawAnalyticsDocuments(records, settings.maxDocumentBytes),
    logger: ctx.logger,
    hooks,
  });
}
