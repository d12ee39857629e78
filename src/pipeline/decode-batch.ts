import { decoders, DecodeError, type Encoding } from '../decode/index.js';
import { errorMessage } from '../errors.js';
import type { DeadLetter } from '../delivery/dead-letters.js';
import type { SinkRecord } from '../../sinks/sink.js';
import { batchId, recordIds } from './identity.js';

export interface DecodedBatch<R> {
  id: string;
  records: Array<SinkRecord<R>>;
  /** Elements that did not decode, ready to be kept as dead letters. */
  letters: DeadLetter[];
  rawById: Map<string, Buffer>;
}

/**
 * Decodes a batch's elements with the decoder of their key. Pure apart from the clock: the same elements
 * give the same ids and records whether they come from a claim, a take-over or the retry queue.
 */
export function decodeBatch<R>(elements: readonly Buffer[], encoding: Encoding, sourceKey: string): DecodedBatch<R> {
  const decode = decoders[encoding] as (bytes: Uint8Array) => R;
  const ids = recordIds(elements);
  const out: DecodedBatch<R> = { id: batchId(ids), records: [], letters: [], rawById: new Map() };
  const at = new Date().toISOString();
  elements.forEach((element, i) => {
    const id = ids[i]!;
    out.rawById.set(id, element);
    try {
      out.records.push({ id, record: decode(element), bytes: element.length });
    } catch (err) {
      const reason = err instanceof DecodeError ? err.message : `unexpected decoder failure: ${errorMessage(err)}`;
      out.letters.push({ id, kind: 'undecodable', reason, sourceKey, at, b64: element.toString('base64') });
    }
  });
  return out;
}
