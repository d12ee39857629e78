import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors.js';
import { FoldConflictError, SinkError, type EncodingSink, type Sink, type SinkBatch, type SinkHealth, type WriteOutcome } from '../../sinks/sink.js';
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

/**
 * Prepares a batch's share for this sink again, from its raw elements: a batch folded into others has no
 * encoding of its own left to write alone.
 */
export type Reprepare = () => ShareContent;

interface QueuedBatch {
  id: string;
  escalate: Escalation | undefined;
  reprepare: Reprepare | undefined;
  resolve: (delivery: Delivery) => void;
  reject: (err: Error) => void;
}

/** One write waiting for a slot: a batch, or batches folded into one encoding (EncodingSink.fold). */
interface QueuedWrite {
  members: QueuedBatch[];
  content: QueuedContent;
  /** The encoding's heap, as the sink estimates it (EncodingSink.heapBytes). */
  heapBytes: number;
  /** When its first batch arrived (Date.now()). */
  since: number;
}

/** Most batches one fold takes: enough to fold a backlog's rows, few enough to write one by one if it fails. */
const MAX_BATCHES_FOLDED = 32;

/**
 * Longest a fold waits for batches still being prepared before it is written. Short beside Tyk's
 * `purge_delay` (10 s by default), so aggregates reach the store about as soon as they would have anyway.
 */
export const FOLD_LINGER_MS = 1_000;

/**
 * How often a failing sink is asked whether it works again (probeWhileFailing), at first. Each time it said
 * yes and the next write failed anyway, the interval doubles, up to MAX_RECOVERY_PROBE_MS: every yes makes
 * the retry queue's batches due, and each retry that fails spends one of a batch's attempts.
 */
export const RECOVERY_PROBE_MS = 10_000;
const MAX_RECOVERY_PROBE_MS = 10 * 60_000;

/**
 * Owns one sink: a bounded queue of batches, a few written at a time, transient failures retried with
 * jittered backoff, a deadline per write that really cancels it (W3). A slow sink fills only its own
 * queue; the pipeline stops claiming when any queue is full.
 */
export class SinkRunner<R> {
  /** Writes waiting for a slot. */
  private readonly pending: QueuedWrite[] = [];
  private active = 0;
  private activeHeapBytes = 0;
  /** Whether batches for this sink are on their way; the pipeline says (waitForBatchesWhile). */
  private moreComing: () => boolean = () => false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private opened = false;
  private opening: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private readonly cancelling = new AbortController();
  lastProgressAt = Date.now();
  /**
   * Whether the last write or open failed, until one succeeds. It starts true: batches an earlier run left
   * waiting out a retry backoff are due as soon as the sink works.
   */
  private failing = true;
  private readonly recoveryListeners: Array<() => void> = [];
  private probeDelayMs = RECOVERY_PROBE_MS;
  /** The last recovery was a probe's, and no write has succeeded since. */
  private recoveredByProbe = false;

  constructor(readonly sink: Sink<R>, private readonly opts: SinkRunnerOptions) {}

  get name(): string {
    return this.sink.name;
  }

  get timeoutSeconds(): number {
    return this.opts.timeoutSeconds;
  }

  /** Whether batches waiting for this sink fold into one write (EncodingSink.fold), rather than queue one by one. */
  get folds(): boolean {
    const sink = this.sink as Partial<EncodingSink<R, unknown>>;
    return sink.fold !== undefined && sink.writeFolded !== undefined;
  }

  hasRoom(): boolean {
    return this.queued < this.opts.maxQueued;
  }

  /** Writes waiting or in progress; a fold of batches counts once. */
  get queued(): number {
    return this.pending.length + this.active;
  }

  /** Heap the encodings waiting or being written hold, as the sink estimates it; 0 when it does not. */
  get heldHeapBytes(): number {
    return this.pending.reduce((n, w) => n + w.heapBytes, this.activeHeapBytes);
  }

  private heapBytesOf(content: QueuedContent): number {
    const sink = this.sink as EncodingSink<R, unknown>;
    return content.kind === 'encoded' ? (sink.heapBytes?.(content.encoded) ?? 0) : 0;
  }

  /**
   * While `moreComing` says batches for this sink are on their way, a fold waiting for a write slot holds
   * back for them (up to FOLD_LINGER_MS), so that a backlog is written in a few large folds rather than
   * in as many upserts as it has batches. The pipeline calls `reconsider` when the answer may have changed.
   */
  waitForBatchesWhile(moreComing: () => boolean): void {
    this.moreComing = moreComing;
  }

  reconsider(): void {
    this.startWrites();
  }

  /** `listener` runs each time the sink opens, takes a write or answers a probe after failing (and the first time it opens). */
  onRecovery(listener: () => void): void {
    this.recoveryListeners.push(listener);
  }

  private wrote(): void {
    this.lastProgressAt = Date.now();
    this.recoveredByProbe = false;
    this.probeDelayMs = RECOVERY_PROBE_MS;
    this.recovered();
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    if (this.stopping.signal.aborted) return;
    for (const listener of this.recoveryListeners) listener();
  }

  private failed(): void {
    if (this.recoveredByProbe) {
      this.recoveredByProbe = false;
      this.probeDelayMs = Math.min(2 * this.probeDelayMs, MAX_RECOVERY_PROBE_MS);
    }
    this.failing = true;
  }

  /**
   * While the sink fails, asks it every so often whether it works again, and says so when it does (see
   * onRecovery). Writes tell as much, but none may come: claiming pauses behind a full retry queue, and
   * traffic may stop. Runs until the runner stops; never rejects.
   */
  async probeWhileFailing(): Promise<void> {
    let probedAt = Date.now();
    while (!this.stopping.signal.aborted) {
      // The delay may change during a sleep (grow when a write belies a probe, shrink back after a write),
      // so sleep in short steps and look again.
      const wait = probedAt + this.probeDelayMs - Date.now();
      if (wait > 0) {
        await sleep(Math.min(wait, RECOVERY_PROBE_MS), this.stopping.signal);
        continue;
      }
      probedAt = Date.now();
      if (!this.failing || !this.opened) continue;
      const health = await this.probe();
      if (!health.ok) {
        // Debug only: the failing writes have said so already, at warn.
        this.opts.logger.debug({ sink: this.name, detail: health.detail }, 'sink still failing its health probe');
        continue;
      }
      this.opts.logger.info({ sink: this.name }, 'sink answers again');
      this.recoveredByProbe = true;
      this.recovered();
    }
  }

  /**
   * The sink's health, within the write deadline (or RECOVERY_PROBE_MS without one): a store that accepts
   * connections and never answers, or a black-holed network, must not hold the probe for ever.
   */
  private async probe(): Promise<SinkHealth> {
    const ms = this.opts.timeoutSeconds > 0 ? this.opts.timeoutSeconds * 1000 : RECOVERY_PROBE_MS;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<SinkHealth>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${ms} ms` }), ms);
    });
    try {
      return await Promise.race([this.sink.health().catch((err: unknown) => ({ ok: false, detail: errorMessage(err) })), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Writes the batch, retrying transient failures; after `inProcessAttempts` of them, hands it to
   * `escalate` (the sink's durable retry queue) when one is given, so the batch can be acknowledged.
   */
  deliver(batch: SinkBatch<R>, escalate?: Escalation): Promise<Delivery> {
    const sink = this.sink as Sink<unknown>;
    return this.deliverShare(batch.id, shareContent(sink, batch), escalate, () => shareContent(sink, batch));
  }

  /**
   * As `deliver`, for a batch already prepared for this sink (prepare-batch.ts), possibly in another thread.
   * Without `reprepare`, the batch is never folded into others.
   */
  deliverShare(batchId: string, content: ShareContent, escalate?: Escalation, reprepare?: Reprepare): Promise<Delivery> {
    if (this.stopping.signal.aborted) return Promise.reject(new ShutdownError(this.name));
    if (content.kind === 'refused') return Promise.reject(new SinkError(this.name, content.reason, false));
    return new Promise((resolve, reject) => {
      const queued = { id: batchId, escalate, reprepare, resolve, reject };
      if (!this.foldIntoLast(queued, content)) this.pending.push({ members: [queued], content, heapBytes: this.heapBytesOf(content), since: Date.now() });
      this.startWrites();
    });
  }

  /** Whether more batches may still be folded into `write`: the sink folds, and every member could go alone. */
  private canFoldInto(write: QueuedWrite): boolean {
    // Every member must be able to go alone if the fold fails.
    return this.folds && write.content.kind === 'encoded'
      && write.members.length < MAX_BATCHES_FOLDED && write.members.every((m) => m.reprepare !== undefined);
  }

  /** Folds the batch into the last write waiting, when the sink folds and the batch could be written alone again. */
  private foldIntoLast(queued: QueuedBatch, content: QueuedContent): boolean {
    const sink = this.sink as EncodingSink<R, unknown>;
    const last = this.pending.at(-1);
    if (!last || content.kind !== 'encoded' || last.content.kind !== 'encoded' || !queued.reprepare || !this.canFoldInto(last)) return false;
    // A batch twice in one fold (a take-over raced its owner) would count twice.
    if (last.members.some((m) => m.id === queued.id)) return false;
    const folded = sink.fold!(last.content.encoded, content.encoded);
    if (folded === undefined) return false;
    last.content = { kind: 'encoded', encoded: folded };
    last.heapBytes = this.heapBytesOf(last.content);
    last.members.push(queued);
    return true;
  }

  /** One write from the retry queue: opens the sink if needed; a failure is the queue's to back off from. */
  async writeFromRetryQueue(content: QueuedContent, signal: AbortSignal): Promise<WriteOutcome> {
    try {
      // The store may have come back before the runner reopened the sink: a write before open finds no tables.
      await this.openOnce();
      const outcome = await this.writeContent(content, signal);
      this.wrote();
      return outcome;
    } catch (err) {
      if (!(err instanceof SinkError && !err.transient)) this.failed();
      throw err;
    }
  }

  /** One write of a batch's share, without the runner's queue and retries. */
  private writeContent(content: QueuedContent, signal: AbortSignal): Promise<WriteOutcome> {
    if (content.kind === 'records') return this.sink.write(content.batch as SinkBatch<R>, signal);
    return (this.sink as EncodingSink<R, unknown>).writeEncoded(content.encoded, signal);
  }

  /**
   * Whether the next write should wait for batches still being prepared: it is the last one waiting (only
   * the last takes more), it can take them, and it has not waited FOLD_LINGER_MS yet. Without this wait, a
   * write slot that frees up takes the fold as it is, and a backlog is written as one upsert per batch
   * whenever the store keeps up with preparation.
   */
  private lingers(write: QueuedWrite): boolean {
    return this.pending.length === 1 && !this.stopping.signal.aborted && this.canFoldInto(write)
      && Date.now() - write.since < FOLD_LINGER_MS && this.moreComing();
  }

  /** Looks again when the fold's wait is over, in case no batch arrives before then. */
  private wakeAfterLinger(write: QueuedWrite): void {
    if (this.lingerTimer) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.startWrites();
    }, Math.max(0, write.since + FOLD_LINGER_MS - Date.now()));
    this.lingerTimer.unref();
  }

  /** Two writes at a time let the database work on one batch while this process formats the next. */
  private startWrites(): void {
    while (this.active < this.opts.writeConcurrency && this.pending.length > 0) {
      if (this.lingers(this.pending[0]!)) {
        this.wakeAfterLinger(this.pending[0]!);
        return;
      }
      const write = this.pending.shift()!;
      this.active += 1;
      this.activeHeapBytes += write.heapBytes;
      this.writeQueued(write).finally(() => {
        this.active -= 1;
        this.activeHeapBytes -= write.heapBytes;
        this.startWrites();
      });
    }
  }

  /**
   * A fold is written in one go; if that fails for any reason, each of its batches is prepared again and
   * goes alone, with its own retries, escalation and dead letters.
   */
  private async writeQueued({ members, content }: QueuedWrite): Promise<void> {
    if (members.length === 1) {
      const [queued] = members as [QueuedBatch];
      await this.writeUntilDone(queued, content).then(queued.resolve, queued.reject);
      return;
    }
    if (await this.writeFold(members, content)) return;
    for (const queued of members) {
      if (this.stopping.signal.aborted) {
        queued.reject(new ShutdownError(this.name));
        continue;
      }
      let alone: ShareContent;
      try {
        alone = queued.reprepare!();
      } catch (err) {
        // Not the sink's refusal: the pipeline hands the batch back to Redis for redelivery.
        queued.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (alone.kind === 'refused') queued.reject(new SinkError(this.name, alone.reason, false));
      else await this.writeUntilDone(queued, alone).then(queued.resolve, queued.reject);
    }
  }

  private async writeFold(members: readonly QueuedBatch[], content: QueuedContent): Promise<boolean> {
    const sink = this.sink as EncodingSink<R, unknown>;
    const started = process.hrtime.bigint();
    try {
      if (this.stopping.signal.aborted || content.kind !== 'encoded') return false;
      await this.openOnce();
      const outcomes = await sink.writeFolded!(content.encoded, this.writeSignal());
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.opts.metrics.observeWriteBatches(this.name, members.length);
      members.forEach((queued, i) => {
        this.opts.metrics.observeWrite(this.name, seconds, outcomes[i]!);
        queued.resolve({ kind: 'written', outcome: outcomes[i]! });
      });
      this.wrote();
      return true;
    } catch (err) {
      const log = { sink: this.name, batches: members.length, err: errorMessage(err) };
      if (err instanceof FoldConflictError) this.opts.logger.info(log, 'the store held a folded batch already (a lease race); writing the batches one by one');
      else this.opts.logger.warn(log, 'folded write failed; writing its batches one by one');
      return false;
    }
  }

  /** Opens the sink unless it is open; anything that writes through the sink (the retry queue too) calls it first. */
  private async openOnce(): Promise<void> {
    if (this.opened) return;
    // Callers racing to open (the start-up loop, a write, the retry queue) share one attempt.
    this.opening ??= this.sink.open(this.cancelling.signal).finally(() => {
      this.opening = undefined;
    });
    await this.opening;
    if (this.opened) return;
    this.opened = true;
    this.opts.logger.info({ sink: this.name }, 'sink ready');
    this.recovered();
  }

  /** Opens the sink ahead of the first batch, retrying until it works or the runner stops. */
  async open(): Promise<void> {
    for (let attempt = 0; !this.opened && !this.stopping.signal.aborted; attempt++) {
      try {
        await this.openOnce();
      } catch (err) {
        this.failed();
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

  private async writeUntilDone(queued: QueuedBatch, content: QueuedContent): Promise<Delivery> {
    const { id, escalate } = queued;
    for (let attempt = 0; ; attempt++) {
      if (this.stopping.signal.aborted) throw new ShutdownError(this.name);
      const started = process.hrtime.bigint();
      try {
        await this.openOnce();
        const outcome = await this.writeContent(content, this.writeSignal());
        this.opts.metrics.observeWrite(this.name, Number(process.hrtime.bigint() - started) / 1e9, outcome);
        this.opts.metrics.observeWriteBatches(this.name, 1);
        this.wrote();
        return { kind: 'written', outcome };
      } catch (err) {
        if (err instanceof SinkError && !err.transient) throw err;
        this.failed();
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
    clearTimeout(this.lingerTimer);
    for (const { members } of this.pending.splice(0)) {
      for (const waiting of members) waiting.reject(new ShutdownError(this.name));
    }
  }

  /** Cancels the write in progress (the deadline of shutdown has passed). */
  cancel(): void {
    this.cancelling.abort();
  }

  async close(): Promise<void> {
    await this.sink.close().catch((err) => this.opts.logger.warn({ sink: this.name, err: errorMessage(err) }, 'sink close failed'));
  }
}
