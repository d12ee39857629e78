import type { Logger } from '../../src/log/logger.js';
import { isMcpRecord, type AnalyticsRecord } from '../../src/record/analytics-record.js';
import { SinkError, type RejectedRecord, type Sink, type SinkBatch, type SinkHealth, type SinkRecord, type WriteOutcome } from '../sink.js';
import { DEFAULT_MAX_BYTES, estimatedDocumentBytes, packBySize, type Sized } from '../mongo/batching.js';
import { collectionState, createIndexes, shouldCreateTykIndexes, type IndexPlanEntry } from '../mongo/collections.js';
import { readConnectionSettings, toSinkError, type MongoConnectionSettings, type MongoSinkHooks } from '../mongo/connection.js';
import { analyticsDocument, recordObjectId } from '../mongo/documents.js';
import { MongoHandle } from '../mongo/handle.js';
import { NOTHING_INSERTED, addResults, insertUnordered, type IdentifiedDocument, type InsertResult } from '../mongo/insert.js';
import { metaNumber, type Meta } from '../mongo/meta.js';
import { writeOutcome } from '../mongo/raw-sink.js';

/*
 * Tyk's mongo-pump-selective: each org's raw records in its own collection, z_tyk_analyticz_<orgid>, with
 * a TTL index on expireAt. Tyk logs insert errors and reports success (W2); here they fail the write so
 * the pipeline retries it. Tyk also drops an oversized record silently; here it is returned as rejected,
 * so it reaches the dead letters with its reason.
 */

export const SELECTIVE_INDEX_PLAN: readonly IndexPlanEntry[] = [
  { key: { apiid: 1 } },
  { key: { expireAt: 1 }, ttl: true },
  { key: { timestamp: -1, apiid: 1, apikey: 1, responsecode: 1 }, name: 'logBrowserIndex' },
];

export function selectiveCollectionName(orgId: string): string {
  return `z_tyk_analyticz_${orgId}`;
}

export interface SelectiveSettings {
  connection: MongoConnectionSettings;
  maxInsertBatchBytes: number;
  maxDocumentBytes: number;
}

export function readSelectiveSettings(sink: string, meta: Meta, timeoutSeconds: number): SelectiveSettings {
  return {
    connection: readConnectionSettings(sink, meta, timeoutSeconds),
    maxInsertBatchBytes: metaNumber(meta, 'max_insert_batch_size_bytes') || DEFAULT_MAX_BYTES,
    maxDocumentBytes: metaNumber(meta, 'max_document_size_bytes') || DEFAULT_MAX_BYTES,
  };
}

export interface OrgDocuments {
  documents: Sized<IdentifiedDocument>[];
  tooLarge: RejectedRecord[];
}

/** Splits a batch by org, in input order. Records without an org, MCP and ResponseCode -1 are skipped. */
export function documentsByOrg(records: readonly SinkRecord<AnalyticsRecord>[], maxDocumentBytes: number): Map<string, OrgDocuments> {
  const byOrg = new Map<string, OrgDocuments>();
  for (const { id, record } of records) {
    if (record.org_id === '' || record.response_code === -1 || isMcpRecord(record)) continue;
    let org = byOrg.get(record.org_id);
    if (!org) byOrg.set(record.org_id, (org = { documents: [], tooLarge: [] }));
    const bytes = estimatedDocumentBytes(record);
    if (bytes > maxDocumentBytes) {
      org.tooLarge.push({ recordId: id, reason: `document too large: about ${bytes} bytes, max_document_size_bytes is ${maxDocumentBytes}` });
    } else {
      org.documents.push({ item: { recordId: id, doc: analyticsDocument(record, recordObjectId(record.timestamp, id)) }, bytes });
    }
  }
  return byOrg;
}

export interface SelectiveSinkOptions {
  name: string;
  readSettings: () => SelectiveSettings;
  logger: Logger;
  hooks: MongoSinkHooks;
}

export class MongoSelectiveSink implements Sink<AnalyticsRecord> {
  readonly name: string;
  private readonly handle: MongoHandle;
  private settings: SelectiveSettings | undefined;
  /** Collections whose indexes this process has seen to; Tyk asks the server before every insert. */
  private readonly prepared = new Set<string>();

  constructor(private readonly options: SelectiveSinkOptions) {
    this.name = options.name;
    this.handle = new MongoHandle(options.name, options.hooks);
  }

  async open(signal: AbortSignal): Promise<void> {
    const settings = (this.settings ??= this.options.readSettings());
    await this.handle.connect(settings.connection, signal);
  }

  private async prepare(collection: string, settings: SelectiveSettings): Promise<void> {
    if (this.prepared.has(collection)) return;
    const { db } = this.handle.current;
    const existed = (await collectionState(db, collection)) !== 'absent';
    if (shouldCreateTykIndexes(settings.connection, existed)) {
      await createIndexes(db, collection, SELECTIVE_INDEX_PLAN, settings.connection, this.options.logger);
    }
    this.prepared.add(collection);
  }

  private async writeOrg(orgId: string, docs: Sized<IdentifiedDocument>[], settings: SelectiveSettings, signal: AbortSignal): Promise<InsertResult> {
    const name = selectiveCollectionName(orgId);
    let result: InsertResult = NOTHING_INSERTED;
    try {
      await this.prepare(name, settings);
      const collection = this.handle.current.db.collection(name);
      for (const chunk of packBySize(docs, settings.maxInsertBatchBytes, false)) {
        signal.throwIfAborted();
        result = addResults(result, await insertUnordered(collection, chunk));
      }
    } catch (err) {
      throw toSinkError(this.name, `writing ${name}`, err);
    }
    return result;
  }

  async write(batch: SinkBatch<AnalyticsRecord>, signal: AbortSignal): Promise<WriteOutcome> {
    const settings = this.settings;
    if (!settings) throw new SinkError(this.name, 'write before open', true);
    let result: InsertResult = NOTHING_INSERTED;
    let attempted = 0;
    for (const [orgId, { documents, tooLarge }] of documentsByOrg(batch.records, settings.maxDocumentBytes)) {
      attempted += documents.length;
      const written = await this.writeOrg(orgId, documents, settings, signal);
      result = addResults(result, { ...written, rejected: [...written.rejected, ...tooLarge] });
    }
    return writeOutcome(result, attempted);
  }

  health(): Promise<SinkHealth> {
    return this.handle.health();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
