import type { Logger } from '../../src/log/logger.js';
import { SinkError, type Sink, type SinkBatch, type SinkHealth, type SinkRecord, type WriteOutcome } from '../sink.js';
import { packBySize, DEFAULT_MAX_BYTES, type Sized } from './batching.js';
import { DEFAULT_CAP_BYTES, RAW_INDEX_PLAN, capCollection, collectionState, createIndexes, shouldCreateTykIndexes } from './collections.js';
import { readConnectionSettings, toSinkError, type MongoConnectionSettings, type MongoSinkHooks } from './connection.js';
import { MongoHandle } from './handle.js';
import { NOTHING_INSERTED, addResults, insertUnordered, type IdentifiedDocument, type InsertResult } from './insert.js';
import { metaBool, metaNumber, metaString, type Meta } from './meta.js';

/*
 * A sink that inserts one document per record into one collection, capped and indexed as Tyk's MongoPump
 * does. The `mongo` pump and the Mongo uptime pump differ only in how a record becomes a document.
 */

export interface RawCollectionSettings {
  connection: MongoConnectionSettings;
  collection: string;
  maxInsertBatchBytes: number;
  maxDocumentBytes: number;
  capEnable: boolean;
  capBytes: number;
}

/** `collection_name` is required unless a default is given; its absence is a permanent error naming it. */
export function readRawCollectionSettings(sink: string, meta: Meta, timeoutSeconds: number, defaultCollection = ''): RawCollectionSettings {
  const collection = metaString(meta, 'collection_name') || defaultCollection;
  if (collection === '') throw new SinkError(sink, 'collection_name is required for a mongo pump', false);
  return {
    connection: readConnectionSettings(sink, meta, timeoutSeconds),
    collection,
    maxInsertBatchBytes: metaNumber(meta, 'max_insert_batch_size_bytes') || DEFAULT_MAX_BYTES,
    maxDocumentBytes: metaNumber(meta, 'max_document_size_bytes') || DEFAULT_MAX_BYTES,
    capEnable: metaBool(meta, 'collection_cap_enable'),
    capBytes: metaNumber(meta, 'collection_cap_max_size_bytes') || DEFAULT_CAP_BYTES,
  };
}

/** Turns a batch into sized documents; records the pump skips by design are simply left out. */
export type DocumentBuilder<R> = (records: readonly SinkRecord<R>[], settings: RawCollectionSettings) => Sized<IdentifiedDocument>[];

export interface RawMongoSinkOptions<R> {
  name: string;
  readSettings: () => RawCollectionSettings;
  buildDocuments: DocumentBuilder<R>;
  logger: Logger;
  hooks: MongoSinkHooks;
}

export function writeOutcome(result: InsertResult, attempted: number): WriteOutcome {
  return {
    written: result.inserted,
    alreadyApplied: attempted > 0 && result.duplicates === attempted,
    rejected: result.rejected,
  };
}

export class RawMongoSink<R> implements Sink<R> {
  readonly name: string;
  private readonly handle: MongoHandle;
  private settings: RawCollectionSettings | undefined;

  constructor(private readonly options: RawMongoSinkOptions<R>) {
    this.name = options.name;
    this.handle = new MongoHandle(options.name, options.hooks);
  }

  async open(signal: AbortSignal): Promise<void> {
    const settings = (this.settings ??= this.options.readSettings());
    const { db } = await this.handle.connect(settings.connection, signal);
    try {
      const state = await collectionState(db, settings.collection);
      if (settings.capEnable) await capCollection(db, settings.collection, settings.capBytes, state, this.options.logger);
      if (shouldCreateTykIndexes(settings.connection, state !== 'absent')) {
        await createIndexes(db, settings.collection, RAW_INDEX_PLAN, settings.connection, this.options.logger);
      }
    } catch (err) {
      throw toSinkError(this.name, `preparing ${settings.collection}`, err);
    }
  }

  async write(batch: SinkBatch<R>, signal: AbortSignal): Promise<WriteOutcome> {
    const settings = this.settings;
    if (!settings) throw new SinkError(this.name, 'write before open', true);
    const documents = this.options.buildDocuments(batch.records, settings);
    if (documents.length === 0) return writeOutcome(NOTHING_INSERTED, 0);
    const collection = this.handle.current.db.collection(settings.collection);
    let result: InsertResult = NOTHING_INSERTED;
    for (const chunk of packBySize(documents, settings.maxInsertBatchBytes, true)) {
      signal.throwIfAborted();
      try {
        result = addResults(result, await insertUnordered(collection, chunk));
      } catch (err) {
        throw toSinkError(this.name, `inserting into ${settings.collection}`, err);
      }
    }
    return writeOutcome(result, documents.length);
  }

  health(): Promise<SinkHealth> {
    return this.handle.health();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
