import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors.js';
import { SinkError, isEncodingSink, type EncodingSink, type Sink, type SinkBatch, type WriteOutcome } from '../../sinks/sink.js';
import { shareContent, type ShareContent } from '../pipeline/prepare-batch.js';
import { backoffDelay, ShutdownError, sleep } from './backoff.js';
import type { SinkMetrics } from '../metrics/metrics.js';

export interface SinkRunnerOptions {
  logger: Logger;
  metrics: SinkMetrics;
  /** The pump's `timeout` in seconds; 0 waits as long as the write takes. */
  timeoutSeconds: number;
  /** Batches that may wait for this sink before claiming pauses. */
  maxQueued: number;
  /** Batch writes in progress at once. */
  writeConcurrency: number;
  /** Transient failures of one batch before it moves to the durable retry queue. */
  inProcessAttempts: number;
  retryBaseMs: number;
}

/** What became of a batch: written (or found already written), or handed to the durable retry queue. */
export type Delivery = { kind: 'written'; outcome: WriteOutcome } | { kind: 'queued' };

/** Moves a batch the sink keeps refusing to its durable retry queue; given the last error. */
export type Escalation = (lastError: string) => Promise<void>;

/** What waits in the queue: the batch itself, or only its encoding when the sink encodes. */
export type QueuedContent = Exclude<ShareContent, { kind: 'refused' }>;

interface QueuedBatch {
  id: string;
  content: QueuedContent;
  escalate: Escalation | undefined;
  resolve: (delivery: Delivery) => void;
  reject: (err: Error) => void;
}

/** Most batches one combined write takes: enough to fold a backlog's rows, small enough to retry cheaply. */
const MAX_BATCHES_TOGETHER = 16;

/**
 * Owns one sink: a bounded queue of batches, a few written at a time, transient failures retried with
 * jittered backoff, a deadline per write that really cancels it (W3). A slow sink fills only its own
 * queue; the pipeline stops claiming when any queue is full.
 */
export class SinkRunner<R> {
  /** Batches waiting for a write slot. */
  private readonly pending: Array<QueuedBatch> = [];
  private active = 0;
  private opened = false;
  private opening: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private readonly cancelling = new AbortController();
  lastProgressAt = Date.now();
  healthy = false;

  constructor(readonly sink: Sink<R>, private readonly opts: SinkRunnerOptions) {}

  get name(): string {
    return this.sink.name;
  }

  get timeoutSeconds(): number {
    return this.opts.timeoutSeconds;
  }

  hasRoom(): boolean {
    return this.queued < this.opts.maxQueued;
  }

  /** Batches waiting or being written. */
  get queued(): number {
    return this.pending.length + this.active;
  }

  /**
   * Writes the batch, retrying transient failures; after `inProcessAttempts` of them, hands it to
   * `escalate` (the sink's durable retry queue) when one is given, so the batch can be acknowledged.
   */
  deliver(batch: SinkBatch<R>, escalate?: Escalation): Promise<Delivery> {
    return this.deliverShare(batch.id, shareContent(this.sink as Sink<unknown>, batch), escalate);
  }

  /** As `deliver`, for a batch already prepared for this sink (prepare-batch.ts), possibly in another thread. */
  deliverShare(batchId: string, content: ShareContent, escalate?: Escalation): Promise<Delivery> {
    if (this.stopping.signal.aborted) return Promise.reject(new ShutdownError(this.name));
    if (content.kind === 'refused') return Promise.reject(new SinkError(this.name, content.reason, false));
    return new Promise((resolve, reject) => {
      this.pending.push({ id: batchId, content, escalate, resolve, reject });
      this.startWrites();
    });
  }

  /** One write of a batch's share, without the runner's queue and retries (the retry queue has its own). */
  writeContent(content: QueuedContent, signal: AbortSignal): Promise<WriteOutcome> {
    if (content.kind === 'records') return this.sink.write(content.batch as SinkBatch<R>, signal);
    return (this.sink as EncodingSink<R, unknown>).writeEncoded(content.encoded, signal);
  }

  /** Two writes at a time let the database work on one batch while this process formats the next. */
  private startWrites(): void {
    while (this.active < this.opts.writeConcurrency && this.pending.length > 0) {
      const group = this.pending.splice(0, this.canWriteTogether() ? MAX_BATCHES_TOGETHER : 1);
      this.active += 1;
      this.writeGroup(group).finally(() => {
        this.active -= 1;
        this.startWrites();
      });
    }
  }

  private canWriteTogether(): boolean {
    return isEncodingSink(this.sink) && typeof this.sink.writeEncodedTogether === 'function';
  }

  /**
   * Batches that queued up behind a write go together when the sink can take them so; if that fails for
   * any reason, each goes alone, with its own retries, escalation and dead letters.
   */
  private async writeGroup(group: Array<QueuedBatch>): Promise<void> {
    if (group.length > 1 && (await this.writeTogether(group))) return;
    for (const queued of group) await this.writeUntilDone(queued).then(queued.resolve, queued.reject);
  }

  private async writeTogether(group: Array<QueuedBatch>): Promise<boolean> {
    const sink = this.sink as EncodingSink<R, unknown>;
    const encoded = group.map(({ content }) => (content.kind === 'encoded' ? content.encoded : undefined));
    const started = process.hrtime.bigint();
    try {
      if (this.stopping.signal.aborted) return false;
      await this.openOnce();
      const outcomes = await sink.writeEncodedTogether!(encoded, this.writeSignal());
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      group.forEach((queued, i) => {
        this.opts.metrics.observeWrite(this.name, seconds, outcomes[i]!);
        queued.resolve({ kind: 'written', outcome: outcomes[i]! });
      });
      this.lastProgressAt = Date.now();
      this.healthy = true;
      return true;
    } catch (err) {
      this.opts.logger.warn({ sink: this.name, batches: group.length, err: errorMessage(err) }, 'combined write failed; writing its batches one by one');
      return false;
    }
  }

  /** Opens the sink unless it is open; anything that writes through the sink (the retry queue too) calls it first. */
  async openOnce(): Promise<void> {
    if (this.opened) return;
    // Callers racing to open (the start-up loop, a write, the retry queue) share one attempt.
    this.opening ??= this.sink.open(this.cancelling.signal).finally(() => {
      this.opening = undefined;
    });
    await this.opening;
    if (this.opened) return;
    this.opened = true;
    this.healthy = true;
    this.opts.logger.info({ sink: this.name }, 'sink ready');
  }

  /** Opens the sink ahead of the first batch, retrying until it works or the runner stops. */
  async open(): Promise<void> {
    for (let attempt = 0; !this.opened && !this.stopping.signal.aborted; attempt++) {
      try {
        await this.openOnce();
      } catch (err) {
        this.healthy = false;
        const delay = backoffDelay(attempt, this.opts.retryBaseMs);
        this.opts.logger.error({ sink: this.name, err: errorMessage(err), retryInMs: delay }, 'sink cannot open; retrying');
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  private writeSignal(): AbortSignal {
    const t = this.opts.timeoutSeconds;
    return t > 0 ? AbortSignal.any([this.cancelling.signal, AbortSignal.timeout(t * 1000)]) : this.cancelling.signal;
  }

  private async writeUntilDone(queued: QueuedBatch): Promise<Delivery> {
    const { id, escalate } = queued;
    for (let attempt = 0; ; attempt++) {
      if (this.stopping.signal.aborted) throw new ShutdownError(this.name);
      const started = process.hrtime.bigint();
      try {
        await this.openOnce();
        const outcome = await this.writeContent(queued.content, this.writeSignal());
        this.opts.metrics.observeWrite(this.name, Number(process.hrtime.bigint() - started) / 1e9, outcome);
        this.lastProgressAt = Date.now();
        this.healthy = true;
        return { kind: 'written', outcome };
      } catch (err) {
        if (err instanceof SinkError && !err.transient) throw err;
        this.healthy = false;
        if (escalate && attempt + 1 >= this.opts.inProcessAttempts) {
          await escalate(errorMessage(err));
          this.opts.logger.warn({ sink: this.name, batch: id, attempts: attempt + 1, err: errorMessage(err) }, 'batch moved to the retry queue');
          return { kind: 'queued' };
        }
        this.opts.metrics.retried(this.name);
        const delay = backoffDelay(attempt, this.opts.retryBaseMs);
        this.opts.logger.warn({ sink: this.name, batch: id, attempt: attempt + 1, err: errorMessage(err), retryInMs: delay }, 'sink write failed; retrying');
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  /** Stops taking batches and retrying; queued batches are rejected with ShutdownError. */
  stopAccepting(): void {
    this.stopping.abort();
    for (const waiting of this.pending.splice(0)) waiting.reject(new ShutdownError(this.name));
  }

  /** Cancels the write in progress (the deadline of shutdown has passed). */
  cancel(): void {
    this.cancelling.abort();
  }

  async close(): Promise<void> {
    await this.sink.close().catch((err) => this.opts.logger.warn({ sink: this.name, err: errorMessage(err) }, 'sink close failed'));
  }
}
