import { Int32, Long, type Document, type ObjectId } from 'mongodb';
import type { UptimePumpConfig } from '../../../src/config/types.js';
import { timeToDate } from '../../../src/record/go-time.js';
import type { UptimeRecord } from '../../../src/record/uptime-record.js';
import type { SinkContext } from '../../context.js';
import type { Sink, SinkRecord } from '../../sink.js';
import type { Sized } from '../../mongo/batching.js';
import type { MongoSinkHooks } from '../../mongo/connection.js';
import { recordObjectId } from '../../mongo/documents.js';
import type { IdentifiedDocument } from '../../mongo/insert.js';
import { RawMongoSink, readRawCollectionSettings } from '../../mongo/raw-sink.js';

/*
 * Tyk's Mongo uptime pump (uptime_pump_config with uptime_type `mongo` or empty): host-checker reports as
 * raw documents with the BSON names of reference §3.5. Tyk always inserts into tyk_uptime_analytics and
 * uses collection_name only for capping and indexes (W22); Sluice inserts into collection_name too.
 */

export const DEFAULT_UPTIME_COLLECTION = 'tyk_uptime_analytics';
/** Uptime documents carry no raw dumps; this is their estimated size for insert batching. */
const UPTIME_DOCUMENT_BYTES = 1024;
const NAME = 'UPTIME_MONGO';

export function uptimeDocument(r: UptimeRecord, _id: ObjectId): Document {
  return {
    _id,
    url: r.url,
    requesttime: Long.fromNumber(r.request_time),
    responsecode: new Int32(r.response_code),
    tcperror: r.tcp_error,
    servererror: r.server_error,
    day: new Int32(r.day),
    month: new Int32(r.month),
    year: new Int32(r.year),
    hour: new Int32(r.hour),
    minute: new Int32(r.minute),
    timestamp: timeToDate(r.timestamp),
    expireAt: timeToDate(r.ExpireAt),
    apiid: r.api_id,
    orgid: r.org_id,
  };
}

function uptimeDocuments(records: readonly SinkRecord<UptimeRecord>[]): Sized<IdentifiedDocument>[] {
  return records.map(({ id, record }) => ({
    item: { recordId: id, doc: uptimeDocument(record, recordObjectId(record.timestamp, id)) },
    bytes: UPTIME_DOCUMENT_BYTES,
  }));
}

export function createMongoUptimeSink(uptime: UptimePumpConfig, ctx: SinkContext, hooks: MongoSinkHooks = {}): Sink<UptimeRecord> {
  const timeoutSeconds = typeof uptime.timeout === 'number' ? uptime.timeout : 0;
  return new RawMongoSink<UptimeRecord>({
    name: NAME,
    readSettings: () => readRawCollectionSettings(NAME, uptime, timeoutSeconds, DEFAULT_UPTIME_COLLECTION),
    buildDocuments: uptimeDocuments,
    logger: ctx.logger,
    hooks,
  });
}
