import { MongoServerError, type Db, type IndexDescription } from 'mongodb';
import type { Logger } from '../../src/log/logger.js';
import { MongoDbType, type MongoConnectionSettings } from './connection.js';

/*
 * Collection preparation shared by the Mongo sinks: Tyk's capping rule and its index plans. Index
 * creation follows Tyk: on MongoDB an existing collection is left as it is (its indexes are the
 * operator's), on DocumentDB and CosmosDB the indexes are always attempted, and omit_index_creation skips
 * them everywhere. Unlike Tyk, a collection that capping has just created counts as new (W20).
 */

export type CollectionState = 'absent' | 'uncapped' | 'capped';

export async function collectionState(db: Db, name: string): Promise<CollectionState> {
  const [info] = await db.listCollections({ name }).toArray();
  if (!info) return 'absent';
  return (info as { options?: { capped?: boolean } }).options?.capped === true ? 'capped' : 'uncapped';
}

const NAMESPACE_EXISTS = 48;
/** An index with these keys already exists under another name or with other options. */
const INDEX_CONFLICTS = new Set([85, 86]);

export const DEFAULT_CAP_BYTES = 5 * 1024 ** 3;

/**
 * Creates the collection capped at `maxBytes` when it does not exist. An existing uncapped collection is
 * not converted: convertToCapped rewrites it under an exclusive lock and drops the oldest data to fit.
 */
export async function capCollection(db: Db, name: string, maxBytes: number, state: CollectionState, logger: Logger): Promise<void> {
  if (state === 'uncapped') {
    logger.warn({ collection: name }, 'collection exists and is not capped; Sluice will not convert it (capping could lose data)');
    return;
  }
  if (state === 'capped') return;
  try {
    await db.createCollection(name, { capped: true, size: maxBytes });
  } catch (err) {
    // Another worker created it between our look and our create: the cap is its business now.
    if (!(err instanceof MongoServerError && err.code === NAMESPACE_EXISTS)) throw err;
  }
}

export interface IndexPlanEntry {
  key: Record<string, 1 | -1>;
  /** Tyk's explicit name, e.g. logBrowserIndex; otherwise MongoDB's default (`apiid_1`). */
  name?: string;
  /** A TTL index expiring documents at their `expireAt` (expireAfterSeconds 0); never built on CosmosDB. */
  ttl?: boolean;
  unique?: boolean;
}

export function shouldCreateTykIndexes(s: MongoConnectionSettings, existedBefore: boolean): boolean {
  if (s.omitIndexCreation) return false;
  return s.dbType !== MongoDbType.MongoDB || !existedBefore;
}

function describe(entry: IndexPlanEntry, s: MongoConnectionSettings): IndexDescription {
  return {
    key: entry.key,
    ...(entry.name ? { name: entry.name } : {}),
    ...(entry.ttl ? { expireAfterSeconds: 0 } : {}),
    ...(entry.unique ? { unique: true } : {}),
    // Tyk asks for background builds on MongoDB only; the other two reject or ignore the flag.
    ...(s.dbType === MongoDbType.MongoDB ? { background: true } : {}),
  };
}

/** One createIndexes per index, so one conflicting index (kept with a warning) does not block the rest. */
export async function createIndexes(db: Db, collection: string, plan: readonly IndexPlanEntry[], s: MongoConnectionSettings, logger: Logger): Promise<void> {
  for (const entry of plan) {
    if (entry.ttl && s.dbType === MongoDbType.CosmosDB) continue;
    try {
      await db.collection(collection).createIndexes([describe(entry, s)]);
    } catch (err) {
      if (!(err instanceof MongoServerError && INDEX_CONFLICTS.has(err.code as number))) throw err;
      logger.warn({ collection, index: entry.name ?? entry.key, err: err.message }, 'an equivalent index exists already; keeping it');
    }
  }
}

/** Tyk's indexes on the raw analytics and uptime collections. There is no TTL index there. */
export const RAW_INDEX_PLAN: readonly IndexPlanEntry[] = [
  { key: { orgid: 1 } },
  { key: { apiid: 1 } },
  { key: { timestamp: -1, orgid: 1, apiid: 1, apikey: 1, responsecode: 1 }, name: 'logBrowserIndex' },
];
