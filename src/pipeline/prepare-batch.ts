import { decoders, DecodeError, type Encoding } from '../decode/index.js';
import { decodeAggregatedMsgpack } from '../decode/aggregated-msgpack.js';
import type { DeadLetter } from '../delivery/dead-letters.js';
import { errorMessage } from '../errors.js';
import { isEncodingSink, type BatchEncoder, type Sink, type SinkBatch, type SinkRecord } from '../../sinks/sink.js';
import { batchId, recordIds } from './identity.js';

/*
 * The CPU-bound part of handling a claimed batch, as one pure step: decode the elements, give each sink
 * its share (the pump's filters and trimming), and let every sink that can encode its share do so. Records
 * go through one at a time, decoded, handed to every sink, then dropped, so the garbage collector never
 * finds a whole batch of them alive. The pipeline runs this on the main thread or in an encode thread
 * (encode-pool.ts); either way the result is plain data, so it crosses a thread boundary as it is.
 * Pure apart from the clock: the same elements give the same ids and encodings whether they come from a
 * claim, a take-over or the retry queue.
 */

/** What a sink is handed of a batch: its records, its own encoding of them, or why it cannot take them. */
export type ShareContent =
  | { kind: 'records'; batch: SinkBatch<unknown> }
  | { kind: 'encoded'; encoded: unknown }
  | { kind: 'refused'; reason: string };

export interface BatchShare {
  /** Index of the sink in the routes the batch was prepared for. */
  route: number;
  recordIds: readonly string[];
  content: ShareContent;
}

export interface PreparedBatch {
  id: string;
  /** One id per element, in claim order; an element that did not decode keeps its id for its dead letter. */
  elementIds: readonly string[];
  decoded: number;
  /** Elements that did not decode, ready to be kept as dead letters. */
  letters: DeadLetter[];
  /** Sinks whose share is empty get none. */
  shares: BatchShare[];
}

/** A sink as batch preparation sees it: what it gets of each record, and how it encodes its share. */
export interface PreparingRoute {
  sink: Sink<unknown>;
  /** The record as this sink receives it (a pump's filters and trimming), or null to leave it out. */
  prepare(record: SinkRecord<unknown>): SinkRecord<unknown> | null;
}

/** Whether a batch for these sinks is worth preparing in an encode thread: every one encodes compactly. */
export function preparesOffThread(sinks: ReadonlyArray<Sink<unknown>>): boolean {
  return sinks.length > 0 && sinks.every((sink) => isEncodingSink(sink) && sink.compactEncoding);
}

/** The full decoder for the encoding, or the one that skips what no route's sink reads. */
function decoderFor(encoding: Encoding, routes: readonly PreparingRoute[]): (bytes: Buffer) => unknown {
  const onlyAggregating = routes.length > 0 && routes.every((route) => route.sink.readsAggregatedFieldsOnly === true);
  return encoding === 'msgpack' && onlyAggregating ? decodeAggregatedMsgpack : decoders[encoding];
}

/**
 * One sink's share, built while the batch is decoded. Encoding is pure, so a share it fails on fails the
 * same way every time: it is refused for good.
 */
class ShareBuilder {
  readonly recordIds: string[] = [];
  private readonly records: Array<SinkRecord<unknown>> = [];
  private encoder: BatchEncoder<unknown, unknown> | undefined;
  private refusal: string | undefined;

  constructor(private readonly route: PreparingRoute, private readonly batchId: string, expectedBytes: number) {
    if (!isEncodingSink(route.sink)) return;
    try {
      this.encoder = route.sink.encoder(batchId, expectedBytes);
    } catch (err) {
      this.refuse(err);
    }
  }

  private refuse(err: unknown): void {
    this.refusal = `cannot encode batch ${this.batchId}: ${errorMessage(err)}`;
    this.encoder = undefined;
  }

  offer(item: SinkRecord<unknown>): void {
    const record = this.route.prepare(item);
    if (!record) return;
    this.recordIds.push(record.id);
    if (this.refusal !== undefined) return;
    if (!this.encoder) {
      this.records.push(record);
      return;
    }
    try {
      this.encoder.add(record);
    } catch (err) {
      this.refuse(err);
    }
  }

  content(): ShareContent {
    if (this.encoder) {
      try {
        return { kind: 'encoded', encoded: this.encoder.finish() };
      } catch (err) {
        this.refuse(err);
      }
    }
    if (this.refusal !== undefined) return { kind: 'refused', reason: this.refusal };
    return { kind: 'records', batch: { id: this.batchId, records: this.records } };
  }
}

/** A whole batch for one sink, as prepareBatch would hand it over. */
export function shareContent(sink: Sink<unknown>, batch: SinkBatch<unknown>): ShareContent {
  const builder = new ShareBuilder({ sink, prepare: (record) => record }, batch.id, batch.records.reduce((n, r) => n + r.bytes, 0));
  for (const record of batch.records) builder.offer(record);
  return builder.content();
}

export function prepareBatch(
  elements: readonly Buffer[],
  encoding: Encoding,
  sourceKey: string,
  routes: readonly PreparingRoute[],
  /** The id to write under when it is not the elements' own: a replay of dead letters gets a fresh one. */
  idOverride?: string,
): PreparedBatch {
  const decode = decoderFor(encoding, routes);
  const elementIds = recordIds(elements);
  const id = idOverride ?? batchId(elementIds);
  const expectedBytes = elements.reduce((n, e) => n + e.length, 0);
  const builders = routes.map((route) => new ShareBuilder(route, id, expectedBytes));
  const letters: DeadLetter[] = [];
  const at = new Date().toISOString();
  let decoded = 0;
  elements.forEach((element, i) => {
    let record: unknown;
    try {
      record = decode(element);
    } catch (err) {
      const reason = err instanceof DecodeError ? err.message : `unexpected decoder failure: ${errorMessage(err)}`;
      letters.push({ id: elementIds[i]!, kind: 'undecodable', reason, sourceKey, at, b64: element.toString('base64') });
      return;
    }
    decoded += 1;
    const item = { id: elementIds[i]!, record, bytes: element.length };
    for (const builder of builders) builder.offer(item);
  });
  // A share of every element is the element ids themselves, one array: a reply from an encode thread then
  // carries the thousand ids once, not once more per sink.
  const idsOf = (builder: ShareBuilder) => (builder.recordIds.length === elementIds.length ? elementIds : builder.recordIds);
  const shares = builders.flatMap((builder, route) => (builder.recordIds.length === 0 ? [] : [{ route, recordIds: idsOf(builder), content: builder.content() }]));
  return { id, elementIds, decoded, letters, shares };
}
