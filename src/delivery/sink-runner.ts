import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors.js';
import { SinkError, type Sink, type SinkBatch, type WriteOutcome } from '../../sinks/sink.js';
import { backoffDelay, ShutdownError, sleep } from './backoff.js';
import type { SinkMetrics } from '../metrics/metrics.js';

export interface SinkRunnerOptions {
  logger: Logger;
  metrics: SinkMetrics;
  /** The pump's `timeout` in seconds; 0 waits as long as the write takes. */
  timeoutSeconds: number;
  /** Batches that may wait for this sink before claiming pauses. */
  maxQueued: number;
  retryBaseMs: number;
}

interface QueuedBatch<R> {
  batch: SinkBatch<R>;
  resolve: (outcome: WriteOutcome) => void;
  reject: (err: Error) => void;
}

/**
 * Owns one sink: a bounded queue of batches written one at a time, transient failures retried with
 * jittered backoff, a deadline per write that really cancels it (W3). A slow sink fills only its own
 * queue; the pipeline stops claiming when any queue is full.
 */
export class SinkRunner<R> {
  private readonly queue: Array<QueuedBatch<R>> = [];
  private running = false;
  private opened = false;
  private readonly stopping = new AbortController();
  private readonly cancelling = new AbortController();
  private idle: Promise<void> = Promise.resolve();
  lastProgressAt = Date.now();
  healthy = false;

  constructor(readonly sink: Sink<R>, private readonly opts: SinkRunnerOptions) {}

  get name(): string {
    return this.sink.name;
  }

  hasRoom(): boolean {
    return this.queue.length < this.opts.maxQueued;
  }

  get queued(): number {
    return this.queue.length;
  }

  deliver(batch: SinkBatch<R>): Promise<WriteOutcome> {
    if (this.stopping.signal.aborted) return Promise.reject(new ShutdownError(this.name));
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.running) this.idle = this.drain();
    });
  }

  /** Opens the sink ahead of the first batch, retrying until it works or the runner stops. */
  async open(): Promise<void> {
    let attempt = 0;
    while (!this.opened && !this.stopping.signal.aborted) {
      try {
        await this.sink.open(this.cancelling.signal);
        this.opened = true;
        this.healthy = true;
        this.opts.logger.info({ sink: this.name }, 'sink ready');
      } catch (err) {
        this.healthy = false;
        const delay = backoffDelay(attempt++, this.opts.retryBaseMs);
        this.opts.logger.error({ sink: this.name, err: errorMessage(err), retryInMs: delay }, 'sink cannot open; retrying');
        await sleep(delay, this.stopping.signal);
      }
    }
    if (!this.opened) throw new ShutdownError(this.name);
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        try {
          next.resolve(await this.writeUntilDone(next.batch));
        } catch (err) {
          next.reject(err as Error);
        }
        this.queue.shift();
      }
    } finally {
      this.running = false;
    }
  }

  private writeSignal(): AbortSignal {
    const t = this.opts.timeoutSeconds;
    return t > 0 ? AbortSignal.any([this.cancelling.signal, AbortSignal.timeout(t * 1000)]) : this.cancelling.signal;
  }

  private async writeUntilDone(batch: SinkBatch<R>): Promise<WriteOutcome> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopping.signal.aborted) throw new ShutdownError(this.name);
      await this.open();
      const started = process.hrtime.bigint();
      try {
        const outcome = await this.sink.write(batch, this.writeSignal());
        this.opts.metrics.observeWrite(this.name, Number(process.hrtime.bigint() - started) / 1e9, outcome);
        this.lastProgressAt = Date.now();
        this.healthy = true;
        return outcome;
      } catch (err) {
        if (err instanceof SinkError && !err.transient) throw err;
        this.healthy = false;
        this.opts.metrics.retried(this.name);
        const delay = backoffDelay(attempt, this.opts.retryBaseMs);
        this.opts.logger.warn({ sink: this.name, batch: batch.id, attempt: attempt + 1, err: errorMessage(err), retryInMs: delay }, 'sink write failed; retrying');
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  /** Stops taking batches and retrying; queued batches are rejected with ShutdownError. */
  stopAccepting(): void {
    this.stopping.abort();
    for (const waiting of this.queue.splice(1)) waiting.reject(new ShutdownError(this.name));
  }

  /** Cancels the write in progress (the deadline of shutdown has passed). */
  cancel(): void {
    this.cancelling.abort();
  }

  async settled(): Promise<void> {
    await this.idle;
  }

  async close(): Promise<void> {
    await this.sink.close().catch((err) => this.opts.logger.warn({ sink: this.name, err: errorMessage(err) }, 'sink close failed'));
  }
}
