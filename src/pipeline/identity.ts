import { hash } from 'node:crypto';

/*
 * Identities that survive redelivery. A redelivered batch is the same in-flight list with the same
 * elements in the same order, so hashes of the raw bytes give the same ids every time: sinks use them to
 * recognise work they have already done.
 */

const ID_HEX_LENGTH = 32;

/**
 * Hash of the batch's record ids, which are hashes of its elements in order: the same elements in the
 * same order give the same id, without hashing every byte a second time.
 */
export function batchId(recordIdsInOrder: readonly string[]): string {
  return hash('sha256', recordIdsInOrder.join(',')).slice(0, ID_HEX_LENGTH);
}

/**
 * One id per element: the hash of its raw bytes, plus how many identical elements came before it in the
 * batch, so two byte-identical records in one batch stay two records.
 */
export function recordIds(elements: readonly Uint8Array[]): string[] {
  const seen = new Map<string, number>();
  return elements.map((element) => {
    // The one-shot hash allocates no Hash object per element. Hex of the digest's first half, not a slice
    // of its whole hex: a slice would keep the 64-character string alive as long as the id.
    const digest = hash('sha256', element, 'buffer');
    const id = digest.toString('hex', 0, ID_HEX_LENGTH / 2);
    const occurrence = seen.get(id) ?? 0;
    seen.set(id, occurrence + 1);
    if (occurrence === 0) return id;
    return hash('sha256', `${digest.toString('hex')}${occurrence}`).slice(0, ID_HEX_LENGTH);
  });
}

/**
 * A batch id of its own for dead letters replayed into a sink's retry queue. It must differ from every
 * earlier id: the batch the letters came from is in the sink's ledger, with the letters left out.
 */
export function replayBatchId(letterIds: readonly string[], at: Date): string {
  return hash('sha256', `replay:${at.toISOString()}:${letterIds.join(',')}`).slice(0, ID_HEX_LENGTH);
}
