import { SluiceError } from '../src/errors.js';

/*
 * The one interface every sink implements: open, write a batch, close, health. The pipeline applies a
 * pump's filters, omit_detailed_recording and max_record_size before the sink sees a batch, and owns
 * retries, queues and acknowledgement; a sink only writes, idempotently.
 */

export interface SinkRecord<R> {
  /** Hex digest of the record's raw bytes (disambiguated within its batch); stable across redelivery. */
  readonly id: string;
  readonly record: R;
  /** Size of the record's raw bytes as the gateway wrote them; feeds byte budgets. */
  readonly bytes: number;
}

export interface SinkBatch<R> {
  /** Hex digest of the batch's raw elements: the same on every redelivery of the same in-flight list. */
  readonly id: string;
  readonly records: readonly SinkRecord<R>[];
}

export interface RejectedRecord {
  readonly recordId: string;
  readonly reason: string;
}

export interface WriteOutcome {
  /** Records now in the store because of this call (0 when the batch had already been applied). */
  readonly written: number;
  /** True when the store already held this batch (a redelivery) and nothing was written. */
  readonly alreadyApplied: boolean;
  /** Records the store refused for good; the rest of the batch was written. */
  readonly rejected: readonly RejectedRecord[];
}

export interface SinkHealth {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface Sink<R> {
  /** The pump's name from the config (upper-cased map key), used in logs, metrics and queue names. */
  readonly name: string;
  /** Connects and prepares tables or collections. Throws SinkError; the caller retries. */
  open(signal: AbortSignal): Promise<void>;
  /** Writes the whole batch or nothing that would be written twice on a retry. */
  write(batch: SinkBatch<R>, signal: AbortSignal): Promise<WriteOutcome>;
  close(): Promise<void>;
  health(): Promise<SinkHealth>;
  /**
   * True for a sink that reads of an analytics record only what aggregation reads (aggregated-msgpack.ts):
   * a msgpack batch whose every sink says so is decoded without the other fields.
   */
  readonly readsAggregatedFieldsOnly?: boolean;
}

/** Turns one batch's records, handed over one at a time, into what the sink sends. */
export interface BatchEncoder<R, E> {
  add(record: SinkRecord<R>): void;
  finish(): E;
}

/**
 * A sink that can turn a batch into what it sends before its turn to write comes: `write(batch)` is then
 * `writeEncoded(encodeBatch(sink, batch))`. A batch is encoded as it is decoded, record by record, so a
 * decoded record dies as soon as every sink has taken it, and a batch waits in the sink's queue as compact
 * Buffers or rows instead of thousands of objects that the garbage collector would copy while they wait.
 */
export interface EncodingSink<R, E> extends Sink<R> {
  /**
   * True when an encoding crosses from an encode thread cheaply: a few Buffers (COPY rows), or a few arrays
   * (aggregate rows as columns, see forTransfer); false for encodings that are records or other objects by
   * the thousand, which cost the main thread as much to rebuild as they save. Only batches whose every sink
   * encodes compactly are prepared in encode threads.
   */
  readonly compactEncoding: boolean;
  /**
   * Pure: the same records in the same order give the same encoding, so a retried write sends the same
   * thing. `expectedBytes` is the batch's raw size, a first guess for the encoding's buffers.
   */
  encoder(batchId: string, expectedBytes: number): BatchEncoder<R, E>;
  writeEncoded(encoded: E, signal: AbortSignal): Promise<WriteOutcome>;
  /**
   * Optional: the encoding as an encode thread sends it to the main thread, where the sink must take it as
   * it takes its own encodings, and the buffers it owns outright, which are moved instead of copied.
   * Nothing else may share them.
   */
  forTransfer?(encoded: E): { encoded: E; transfer: ArrayBuffer[] };
  /**
   * Optional, with `writeFolded`: for a sink whose batches merge into far less store work (aggregate rows of
   * many batches fold into fewer upserts). Adds `next` into `into` and returns the fold, consuming both;
   * returns undefined, leaving both as they were, when `into` is as large as a fold should grow. The runner
   * folds batches as they queue up behind a write, so a backlog waits as one merged encoding.
   */
  fold?(into: E, next: E): E | undefined;
  /**
   * Writes a fold of several batches all or nothing, with one outcome per batch in fold order. Throws
   * FoldConflictError, having written nothing, when the store holds some of the folded batches already
   * and not others: their share cannot be taken back out of the fold, so each batch must go alone.
   */
  writeFolded?(folded: E, signal: AbortSignal): Promise<WriteOutcome[]>;
  /**
   * Optional: about how much memory (heap, and typed arrays beside it) an encoding holds while it waits to
   * be written. The pipeline counts it against `memory_budget_mb` beside the raw bytes it holds, so that deep
   * folds cannot exhaust the heap.
   */
  heapBytes?(encoded: E): number;
}

export function isEncodingSink<R>(sink: Sink<R>): sink is EncodingSink<R, unknown> {
  return typeof (sink as Partial<EncodingSink<R, unknown>>).encoder === 'function';
}

/** A whole batch through the sink's encoder. */
export function encodeBatch<R, E>(sink: EncodingSink<R, E>, batch: SinkBatch<R>): E {
  const encoder = sink.encoder(batch.id, batch.records.reduce((n, r) => n + r.bytes, 0));
  for (const record of batch.records) encoder.add(record);
  return encoder.finish();
}

/**
 * A failed sink operation. `transient` failures (network, timeouts, failover) are retried; permanent ones
 * concern the data, not the store, and retrying them cannot help.
 */
export class SinkError extends SluiceError {
  constructor(
    readonly sink: string,
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown; context?: Record<string, unknown> },
  ) {
    super(transient ? 'sink_unavailable' : 'sink_rejected', `${sink}: ${message}`, { sink, ...options?.context }, options);
  }
}

/**
 * A fold held batches the store had applied already beside ones it had not (a redelivery folded in with
 * fresh batches): nothing was written, and each batch has to be written on its own.
 */
export class FoldConflictError extends SluiceError {
  constructor(readonly sink: string, readonly applied: readonly string[], readonly folded: number) {
    super('fold_conflict', `${sink}: ${applied.length} of ${folded} folded batches were applied already`, { sink, applied });
  }
}
