import { MongoBulkWriteError, type Collection, type Document } from 'mongodb';
import type { RejectedRecord } from '../sink.js';
import { isDataError } from './connection.js';

/*
 * Idempotent inserts: every document carries a deterministic `_id`, and the insert is unordered, so on a
 * redelivered batch the server refuses each document it already holds (E11000) and inserts the rest. A
 * duplicate is therefore success. A document the server refuses for its content is reported as rejected
 * and its batch-mates are kept; any other failure is thrown whole for the caller to classify and retry.
 */

const DUPLICATE_KEY = 11000;

export interface IdentifiedDocument {
  readonly recordId: string;
  readonly doc: Document;
}

export interface InsertResult {
  inserted: number;
  duplicates: number;
  rejected: RejectedRecord[];
}

export const NOTHING_INSERTED: Readonly<InsertResult> = Object.freeze({ inserted: 0, duplicates: 0, rejected: [] });

export function addResults(a: InsertResult, b: InsertResult): InsertResult {
  return { inserted: a.inserted + b.inserted, duplicates: a.duplicates + b.duplicates, rejected: [...a.rejected, ...b.rejected] };
}

export async function insertUnordered(collection: Collection, docs: readonly IdentifiedDocument[]): Promise<InsertResult> {
  if (docs.length === 0) return { ...NOTHING_INSERTED };
  try {
    const result = await collection.insertMany(docs.map((d) => d.doc), { ordered: false });
    return { inserted: result.insertedCount, duplicates: 0, rejected: [] };
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError) || err.result.hasWriteErrors() === false || err.result.getWriteConcernError()) throw err;
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const result: InsertResult = { inserted: err.insertedCount, duplicates: 0, rejected: [] };
    for (const writeError of writeErrors) {
      if (writeError.code === DUPLICATE_KEY) result.duplicates++;
      else if (isDataError(writeError)) result.rejected.push({ recordId: docs[writeError.index]!.recordId, reason: writeError.errmsg ?? `code ${writeError.code}` });
      else throw err;
    }
    return result;
  }
}
