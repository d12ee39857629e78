import type { ClientSession, Db, Document } from 'mongodb';
import type { Logger } from '../../src/log/logger.js';
import { aggregateRecords, isAggregatable, type OrgAggregate } from '../../src/aggregate/analytics.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { SinkError, type Sink, type SinkBatch, type SinkHealth, type WriteOutcome } from '../sink.js';
import { collectionState, createIndexes, shouldCreateTykIndexes, type IndexPlanEntry } from '../mongo/collections.js';
import { MongoDbType, toSinkError, type MongoSinkHooks } from '../mongo/connection.js';
import { MongoHandle } from '../mongo/handle.js';
import { applyBatchOnce, ensureAppliedBatches } from './ledger.js';
import { fitToBudget, toMongoBucket, type FoldedEntries } from './mongo-bucket.js';
import type { AggregateSettings } from './settings.js';
import { countsUpdate, derivedUpdate } from './updates.js';

/*
 * Tyk's mongo-pump-aggregate: per (org, bucket) one document in z_tyk_analyticz_aggregate_<orgid>, and in
 * tyk_analytics_aggregates with use_mixed_collection. Buckets come from each record's own time (W11,
 * W13), a unique index on {orgid, timestamp} keeps concurrent upserts to one document (W14), and a size
 * budget replaces self-healing (W12). Exactly once on a replica set, at least once on a standalone.
 */

export const MIXED_COLLECTION = 'tyk_analytics_aggregates';

export function orgAggregateCollection(orgId: string): string {
  return `z_tyk_analyticz_aggregate_${orgId}`;
}

const TYK_AGGREGATE_INDEXES: readonly IndexPlanEntry[] = [
  { key: { expireAt: 1 }, ttl: true },
  { key: { timestamp: 1 } },
  { key: { orgid: 1 } },
];
const UNIQUE_BUCKET_INDEX: IndexPlanEntry = { key: { orgid: 1, timestamp: 1 }, unique: true };

export interface FoldedDimensionEvent extends FoldedEntries {
  readonly sink: string;
  readonly orgId: string;
  readonly collection: string;
}

export interface MongoAggregateHooks extends MongoSinkHooks {
  /** Entries folded into `other` because a document reached its budget; wire it to a counter. */
  onFolded?: (event: FoldedDimensionEvent) => void;
}

export interface AggregateSinkOptions {
  name: string;
  readSettings: () => AggregateSettings;
  logger: Logger;
  hooks: MongoAggregateHooks;
}

/** The first word of a tag (up to `-`, `_` or `:`), to tell an operator which tags flood a document. */
function tagPrefix(tag: string): string {
  return tag.split(/[-_:]/, 1)[0]!;
}

export class MongoAggregateSink implements Sink<AnalyticsRecord> {
  readonly name: string;
  readonly readsAggregatedFieldsOnly = true;
  private readonly handle: MongoHandle;
  private settings: AggregateSettings | undefined;
  private readonly prepared = new Set<string>();
  private exactlyOnce = false;

  constructor(private readonly options: AggregateSinkOptions) {
    this.name = options.name;
    this.handle = new MongoHandle(options.name, options.hooks);
  }

  async open(signal: AbortSignal): Promise<void> {
    const settings = (this.settings ??= this.options.readSettings());
    const { db, replicaSet } = await this.handle.connect(settings.connection, signal);
    // DocumentDB and CosmosDB report replica sets too, but their transactions are not MongoDB's.
    this.exactlyOnce = replicaSet && settings.connection.dbType === MongoDbType.MongoDB;
    try {
      if (this.exactlyOnce) await ensureAppliedBatches(db);
    } catch (err) {
      throw toSinkError(this.name, 'preparing sluice_applied_batches', err);
    }
    if (!this.exactlyOnce) this.options.logger.info({ sink: this.name }, 'standalone MongoDB: aggregates are written at least once (no transactions)');
  }

  /** Indexes are built outside the transaction: a transaction cannot create them on a used collection. */
  private async prepare(db: Db, collection: string, settings: AggregateSettings): Promise<void> {
    if (this.prepared.has(collection) || settings.connection.omitIndexCreation) return;
    const existed = (await collectionState(db, collection)) !== 'absent';
    const plan = shouldCreateTykIndexes(settings.connection, existed) ? [...TYK_AGGREGATE_INDEXES, UNIQUE_BUCKET_INDEX] : [UNIQUE_BUCKET_INDEX];
    await createIndexes(db, collection, plan, settings.connection, this.options.logger);
    this.prepared.add(collection);
  }

  private collectionsFor(orgId: string, settings: AggregateSettings): string[] {
    return settings.useMixedCollection ? [orgAggregateCollection(orgId), MIXED_COLLECTION] : [orgAggregateCollection(orgId)];
  }

  private async writeBucket(db: Db, collection: string, aggregate: OrgAggregate, session: ClientSession | undefined): Promise<void> {
    const coll = db.collection(collection);
    const query = { orgid: aggregate.orgId, timestamp: new Date(aggregate.bucketStartSec * 1000) };
    const existing = await coll.findOne(query, { session });
    const { bucket, folded } = fitToBudget(toMongoBucket(aggregate), existing);
    this.reportFolded(folded, aggregate.orgId, collection);
    const counted = await coll.findOneAndUpdate(query, countsUpdate(bucket), { upsert: true, returnDocument: 'after', session });
    if (!counted) throw new SinkError(this.name, `upsert into ${collection} returned no document`, true);
    await coll.updateOne({ _id: counted._id }, derivedUpdate(counted), { session });
    this.warnOnManyTags(counted, collection);
  }

  private reportFolded(folded: readonly FoldedEntries[], orgId: string, collection: string): void {
    for (const f of folded) {
      this.options.hooks.onFolded?.({ ...f, sink: this.name, orgId, collection });
      this.options.logger.warn({ sink: this.name, org: orgId, collection, dimension: f.dimension, entries: f.entries }, 'aggregate document at its size budget; new entries folded into "other"');
    }
  }

  private warnOnManyTags(doc: Document, collection: string): void {
    const threshold = this.settings!.tagThreshold;
    const tags = Object.keys((doc.tags ?? {}) as Document);
    if (threshold === -1 || tags.length <= threshold) return;
    const counts = new Map<string, number>();
    for (const tag of tags) counts.set(tagPrefix(tag), (counts.get(tagPrefix(tag)) ?? 0) + 1);
    const common = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([prefix]) => prefix);
    this.options.logger.warn({ sink: this.name, collection, tags: tags.length, threshold, commonPrefixes: common }, 'too many tags in one aggregate document; consider ignore_tag_prefix_list');
  }

  async write(batch: SinkBatch<AnalyticsRecord>, signal: AbortSignal): Promise<WriteOutcome> {
    const settings = this.settings;
    if (!settings) throw new SinkError(this.name, 'write before open', true);
    const aggregates = [...aggregateRecords(batch.records.map((r) => r.record), {
      trackAllPaths: settings.trackAllPaths,
      ignoreTagPrefixes: settings.ignoreTagPrefixes,
      ignoredDimensions: settings.ignoredDimensions,
      bucketMinutes: settings.bucketMinutes,
    }).values()];
    if (aggregates.length === 0) return { written: 0, alreadyApplied: false, rejected: [] };
    const counted = batch.records.filter((r) => isAggregatable(r.record)).length;
    const { client, db } = this.handle.current;
    try {
      for (const aggregate of aggregates) {
        for (const collection of this.collectionsFor(aggregate.orgId, settings)) await this.prepare(db, collection, settings);
      }
      const applyAll = async (session?: ClientSession) => {
        for (const aggregate of aggregates) {
          for (const collection of this.collectionsFor(aggregate.orgId, settings)) {
            signal.throwIfAborted();
            await this.writeBucket(db, collection, aggregate, session);
          }
        }
      };
      if (!this.exactlyOnce) await applyAll();
      else if (!(await applyBatchOnce(client, db, this.name, batch.id, applyAll))) return { written: 0, alreadyApplied: true, rejected: [] };
    } catch (err) {
      throw toSinkError(this.name, 'writing aggregates', err);
    }
    return { written: counted, alreadyApplied: false, rejected: [] };
  }

  health(): Promise<SinkHealth> {
    return this.handle.health();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
