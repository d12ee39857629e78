import { MongoServerError, type ClientSession, type Db, type MongoClient } from 'mongodb';

/*
 * Exactly-once aggregates on a replica set: the aggregate updates of a batch and a marker for it,
 * `{_id: "<sink>:<batch id>"}` in sluice_applied_batches, commit in one transaction. A redelivered batch
 * finds its marker and writes nothing. A standalone server has no transactions, so there the updates go
 * without a marker and a redelivery after a crash counts again (at-least-once).
 */

export const APPLIED_BATCHES = 'sluice_applied_batches';
/** Markers outlive any redelivery: a batch is retried for hours at most, never for a week. */
const MARKER_TTL_SECONDS = 7 * 24 * 3600;
const DUPLICATE_KEY = 11000;

export async function ensureAppliedBatches(db: Db): Promise<void> {
  await db.collection(APPLIED_BATCHES).createIndex({ appliedAt: 1 }, { expireAfterSeconds: MARKER_TTL_SECONDS });
}

/**
 * Runs `apply` inside a transaction that also inserts the batch's marker. Returns false, having changed
 * nothing, when the marker is there already. The driver retries the whole transaction on transient
 * transaction errors and the commit on unknown commit results.
 */
export async function applyBatchOnce(client: MongoClient, db: Db, sink: string, batchId: string, apply: (session: ClientSession) => Promise<void>): Promise<boolean> {
  const session = client.startSession();
  try {
    return await session.withTransaction(async () => {
      try {
        await db.collection<{ _id: string; appliedAt: Date }>(APPLIED_BATCHES).insertOne({ _id: `${sink}:${batchId}`, appliedAt: new Date() }, { session });
      } catch (err) {
        if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) {
          await session.abortTransaction();
          return false;
        }
        throw err;
      }
      await apply(session);
      return true;
    });
  } finally {
    await session.endSession();
  }
}
