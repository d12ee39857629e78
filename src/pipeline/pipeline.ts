import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors.js';
import { setMaxListeners } from 'node:events';
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { ClaimStore, ClaimedBatch } from '../source/claim-store.js';
import { UnreplicatedClaimError } from '../source/replication-guard.js';
import type { SourceKey } from '../source/source-keys.js';
import type { DeadLetter, DeadLetters } from '../delivery/dead-letters.js';
import type { Delivery, SinkRunner } from '../delivery/sink-runner.js';
import { handBackUntried, startRetryWorker, type RetryJobData, type RetryQueue } from '../delivery/retry-queue.js';
import { backoffDelay, ShutdownError, sleep } from '../delivery/backoff.js';
import { ClaimTurns } from './claim-turns.js';
import type { Metrics } from '../metrics/metrics.js';
import { SinkError, type WriteOutcome } from '../../sinks/sink.js';
import { prepareBatch, preparesOffThread, type PreparedBatch, type PreparingRoute, type ShareContent } from './prepare-batch.js';
import { EncodeThreadError, type EncodePool } from './encode-pool.js';
import { shutdownStep } from '../shutdown-step.js';

/** A batch's share handed to one sink, and which records it holds. */
interface SinkDelivery {
  sink: string;
  recordIds: readonly string[];
  done: Promise<Delivery>;
}

/** A record's raw bytes by its id, for its dead letter. */
type RawBytesOf = (recordId: string) => Buffer | undefined;

/** What the pipeline keeps of a batch while its sinks write it. */
interface Dispatched {
  id: string;
  letters: DeadLetter[];
  rawOf: RawBytesOf;
  deliveries: SinkDelivery[];
}

/**
 * The raw bytes of a prepared batch's records by id. The index is built the first time a dead letter
 * needs it, which most batches never do: built for every batch, its thousand entries were garbage the
 * main thread's collector carried for as long as the batch was written.
 */
function rawBytesOf(elementIds: readonly string[], elements: readonly Buffer[]): RawBytesOf {
  let byId: Map<string, Buffer> | undefined;
  return (recordId) => (byId ??= new Map(elementIds.map((id, i) => [id, elements[i]!]))).get(recordId);
}

/** One sink as the pipeline sees it: its runner, its retry queue, and what it does to a batch first. */
export interface SinkRoute {
  runner: SinkRunner<unknown>;
  retry: RetryQueue | null;
  prepare: PreparingRoute['prepare'];
}

export interface PipelineSettings {
  /** Elements per claim (`purge_chunk`, or Sluice's default when Tyk's 0 means "everything"). */
  chunk: number;
  /** Wait before claiming again from a list that was empty or short (`purge_delay`). */
  idleMs: number;
  leaseMs: number;
  /** Claimed batches being prepared or written at once, across all keys (and as many again waiting in folds). */
  maxInflightBatches: number;
  /** Raw bytes of claimed batches held at once; decoded records take a few times more. */
  maxInflightBytes: number;
  /** Heap that sinks' queued encodings may hold at once, as the sinks estimate it (folded aggregate rows). */
  maxQueuedHeapBytes: number;
  /** Batches waiting in one sink's retry queue past which claiming pauses. */
  maxRetryBacklog: number;
}

export interface PipelineParts {
  claims: ClaimStore;
  deadLetters: DeadLetters;
  analyticsKeys: readonly SourceKey[];
  uptimeKey: SourceKey | null;
  analytics: readonly SinkRoute[];
  uptime: readonly SinkRoute[];
  settings: PipelineSettings;
  /** Threads that decode and encode batches; null prepares every batch on the main thread. */
  encodePool: EncodePool | null;
  logger: Logger;
  metrics: Metrics;
}

function preparingRoute(route: SinkRoute): PreparingRoute {
  return { sink: route.runner.sink, prepare: route.prepare };
}

/** One sink's share of a batch prepared again, alone, under the id it was first prepared under. */
function prepareShare(elements: readonly Buffer[], key: SourceKey, route: SinkRoute, batchId: string): ShareContent {
  const [share] = prepareBatch(elements, key.encoding, key.name, [preparingRoute(route)], batchId).shares;
  return share?.content ?? { kind: 'refused', reason: `batch ${batchId} prepared again held no records for ${route.runner.name}` };
}

/**
 * The worker's main loop (DESIGN.md "The flow"): one claim loop per gateway list, a reclaim loop for
 * orphaned in-flight lists, a lease renewal loop, and per batch: decode, dead-letter what does not decode,
 * hand each sink its processed copy, and acknowledge once every sink has it.
 */
export class Pipeline {
  private readonly claiming = new AbortController();
  private readonly held = new Set<ClaimedBatch>();
  /**
   * Held batches that take a claim slot: all of them, but those handed only to sinks that fold (aggregate
   * sinks). A batch waiting in a fold holds its raw bytes and its share of the fold's rows, no CPU;
   * freeing its slot lets the next batches be claimed and prepared while the fold waits and is written,
   * up to as many again as there are slots (hasRoom).
   */
  private readonly occupyingSlots = new Set<ClaimedBatch>();
  /** Batches claimed and not yet handed to their sinks. */
  private preparing = 0;
  /** Lists whose claim loop sleeps (the list was empty or short, or Redis failed); the others claim as soon as there is room. */
  private readonly pausedKeys = new Set<string>();
  private claimLoopCount = 0;
  /** Batches whose ack has been sent: a renewal that finds them gone raced the ack, not another worker. */
  private readonly acking = new WeakSet<ClaimedBatch>();
  private readonly handlers = new Set<Promise<void>>();
  private inflightBytes = 0;
  /** Slots reserved by claims sent to Redis and not yet answered. */
  private claimsInProgress = 0;
  private loops: Array<Promise<void>> = [];
  /** The runners' health probes (SinkRunner.probeWhileFailing); each ends when its runner stops. */
  private readonly probes: Array<Promise<void>> = [];
  private retryWorkers: Worker[] = [];
  /** Retry jobs being written, which a stop waits for before it closes their workers. */
  private readonly retryJobsRunning = new Set<Promise<void>>();
  private readonly retryBacklog = new Map<string, number>();
  private heldBackByRetryQueues = false;
  /** Set while an orphan waits for room: fresh claims hold back so the older records go first. */
  private orphanWaiting = false;
  private readonly claimTurns = new ClaimTurns();
  lastClaimLoopAt = Date.now();

  constructor(private readonly parts: PipelineParts) {
    // Every claim loop sleeps on this signal between claims: 23 waiters at once is expected, not a leak.
    setMaxListeners(0, this.claiming.signal);
    for (const runner of this.runners) runner.waitForBatchesWhile(() => this.moreBatchesComing());
  }

  private get routes(): SinkRoute[] {
    return [...this.parts.analytics, ...this.parts.uptime];
  }

  private routesOf(key: SourceKey): readonly SinkRoute[] {
    return key.encoding === 'uptime' ? this.parts.uptime : this.parts.analytics;
  }

  private get runners(): Array<SinkRunner<unknown>> {
    return this.routes.map((r) => r.runner);
  }

  /** Starts claiming, and consuming the sinks' retry queues over `connection`. */
  start(connection: Redis | Cluster): void {
    const { analyticsKeys, uptimeKey } = this.parts;
    const keys = uptimeKey ? [...analyticsKeys, uptimeKey] : [...analyticsKeys];
    for (const route of this.routes) {
      const { retry, runner } = route;
      // open() retries and logs on its own until the sink opens or the pipeline stops; neither rejects.
      if (!retry) {
        void runner.open();
        continue;
      }
      runner.onRecovery(() => this.retryOneNow(runner.name, retry));
      this.probes.push(runner.open().then(() => runner.probeWhileFailing()));
    }
    this.claimLoopCount = keys.length;
    this.loops = [
      ...keys.map((key) => this.claimLoop(key)),
      this.reclaimLoop(keys),
      this.renewLoop(),
      this.backlogLoop(),
    ];
    const encodingOf = new Map(keys.map((k) => [k.name, k.encoding]));
    this.retryWorkers = this.routes.flatMap((route) => (route.retry ? [{ route, retry: route.retry }] : [])).map(({ route, retry }) => {
      const worker = startRetryWorker(connection, retry, (job, token) => this.runRetryJob(route, job, token, encodingOf));
      worker.on('error', (err) => this.parts.logger.warn({ sink: route.runner.name, err: err.message }, 'retry queue worker error'));
      worker.on('failed', (job, err) => this.parts.logger.warn({
        sink: route.runner.name, batch: job?.data.batchId, attempt: job?.attemptsMade, of: job?.opts.attempts, err: err.message,
      }, 'retried batch failed'));
      return worker;
    });
  }

  /**
   * Bytes one claim may bring, so that the claims a full pipeline holds stay within its byte budget: the
   * check before a claim cannot know how large the claimed records will be (detailed recording of big
   * bodies can make a batch of `purge_chunk` records hundreds of megabytes).
   */
  private get claimByteLimit(): number {
    const s = this.parts.settings;
    return Math.max(1, Math.floor(s.maxInflightBytes / s.maxInflightBatches));
  }

  private hasRoom(): boolean {
    const s = this.parts.settings;
    return this.occupyingSlots.size + this.claimsInProgress < s.maxInflightBatches
      // Beside the slots, three times as many batches in folds, waiting or being written. With as many as
      // the slots, claiming stopped while each fold was written (0.44 of the drain+decode rate hourly,
      // against 0.50); deeper folds measured no faster, and their raw bytes and rows cost memory.
      && this.held.size + this.claimsInProgress < 4 * s.maxInflightBatches
      && this.inflightBytes < s.maxInflightBytes
      && this.runners.reduce((n, r) => n + r.heldHeapBytes, 0) < s.maxQueuedHeapBytes
      && this.runners.every((r) => r.hasRoom())
      && [...this.retryBacklog.values()].every((n) => n < s.maxRetryBacklog);
  }

  private async backlogLoop(): Promise<void> {
    while (!this.claiming.signal.aborted) {
      for (const route of this.routes) {
        if (!route.retry) continue;
        try {
          this.retryBacklog.set(route.runner.name, await route.retry.backlog());
        } catch (err) {
          this.parts.logger.warn({ sink: route.runner.name, err: errorMessage(err) }, 'cannot read the retry backlog');
        }
      }
      this.reportRetryQueueHold();
      await sleep(1_000, this.claiming.signal);
    }
  }

  /** Logs when full retry queues start, and stop, holding claiming back (see hasRoom). */
  private reportRetryQueueHold(): void {
    const limit = this.parts.settings.maxRetryBacklog;
    const full = [...this.retryBacklog].filter(([, batches]) => batches >= limit).map(([sink, batches]) => ({ sink, batches }));
    if ((full.length > 0) === this.heldBackByRetryQueues) return;
    this.heldBackByRetryQueues = full.length > 0;
    if (this.heldBackByRetryQueues) {
      this.parts.logger.warn({ full, queueMaxBacklog: limit }, 'claiming paused: a sink\'s retry queue is full; new records wait in Redis');
    } else {
      this.parts.logger.info({ queueMaxBacklog: limit }, 'claiming resumed: the retry queues have room again');
    }
  }

  /**
   * Reserves a claim slot when there is room, in the same synchronous step as the check, so that the 23
   * claim loops cannot all pass the check before any of their claims comes back.
   */
  private reserveIf(room: boolean): boolean {
    if (room) this.claimsInProgress += 1;
    return room;
  }

  /** A claim loop's wait for a slot: loops take turns (ClaimTurns), and all hold back for a waiting orphan. */
  private reserveInTurn(): Promise<boolean> {
    return this.claimTurns.take(() => this.reserveIf(this.hasRoom() && !this.orphanWaiting), this.claiming.signal);
  }

  /** An orphan's wait for a slot: before any claim loop, whose turn it may be. */
  private async reserveOutOfTurn(): Promise<boolean> {
    while (!this.claiming.signal.aborted) {
      if (this.reserveIf(this.hasRoom())) return true;
      await sleep(25, this.claiming.signal);
    }
    return false;
  }

  private async claimLoop(key: SourceKey): Promise<void> {
    const { claims, settings, logger } = this.parts;
    let failures = 0;
    while (await this.reserveInTurn()) {
      this.lastClaimLoopAt = Date.now();
      let batch: ClaimedBatch | null = null;
      let failure: unknown;
      try {
        batch = await claims.claim(key.name, settings.chunk, this.claimByteLimit);
        if (batch) this.track(batch, key);
      } catch (err) {
        failure = err;
      } finally {
        this.claimsInProgress -= 1;
      }
      if (failure === undefined) failures = 0;
      // A short batch emptied the list, unless the byte limit cut it: then more is waiting.
      if (batch && (batch.elements.length === settings.chunk || batch.cutByBytes)) continue;
      let pause = settings.idleMs;
      if (failure !== undefined) {
        pause = backoffDelay(failures++, 250, 10_000);
        if (failure instanceof UnreplicatedClaimError) logger.warn({ key: key.name, err: failure.message, retryInMs: pause }, 'claim undone: no replica confirmed it');
        else logger.error({ key: key.name, err: errorMessage(failure), retryInMs: pause }, 'claim failed; is Redis reachable?');
      }
      await this.pauseClaiming(key, pause);
    }
  }

  /** A claim loop's sleep: while it lasts, folds do not wait for this list. */
  private async pauseClaiming(key: SourceKey, ms: number): Promise<void> {
    this.pausedKeys.add(key.name);
    this.reconsiderFolds();
    try {
      await sleep(ms, this.claiming.signal);
    } finally {
      this.pausedKeys.delete(key.name);
    }
  }

  private async reclaimLoop(keys: readonly SourceKey[]): Promise<void> {
    const { claims, settings, logger } = this.parts;
    const interval = Math.max(250, Math.min(settings.leaseMs / 2, 5_000));
    while (!this.claiming.signal.aborted) {
      for (const key of keys) {
        try {
          while (!this.claiming.signal.aborted) {
            if (!this.hasRoom()) {
              // Without this, busy claim loops take every freed slot and a dead worker's batches wait for a lull.
              this.orphanWaiting = await claims.hasOrphans(key.name);
              if (!this.orphanWaiting || !(await this.reserveOutOfTurn())) break;
              this.claimsInProgress -= 1;
            }
            const [orphan] = await claims.takeOrphans(key.name, 1);
            this.orphanWaiting = false;
            if (!orphan) break;
            logger.info({ key: key.name, inflight: orphan.inflightKey, elements: orphan.elements.length }, 'took over an orphaned batch');
            this.parts.metrics.redelivered.inc({ key: key.name }, orphan.elements.length);
            this.track(orphan, key);
          }
        } catch (err) {
          logger.error({ key: key.name, err: errorMessage(err) }, 'reclaim failed');
        } finally {
          this.orphanWaiting = false;
        }
      }
      await sleep(interval, this.claiming.signal);
    }
  }

  private async renewLoop(): Promise<void> {
    const { claims, settings, logger } = this.parts;
    const interval = Math.max(100, settings.leaseMs / 3);
    while (!this.claiming.signal.aborted || this.held.size > 0) {
      await sleep(interval, this.claiming.signal.aborted ? undefined : this.claiming.signal);
      for (const batch of [...this.held]) {
        try {
          // A batch whose ack was sent while this round ran is gone from the index too: not a lost lease.
          const renewed = await claims.renew(batch);
          if (!renewed && this.held.has(batch) && !this.acking.has(batch)) logger.warn({ inflight: batch.inflightKey }, 'lease lost; another worker has taken this batch over');
        } catch (err) {
          logger.warn({ inflight: batch.inflightKey, err: errorMessage(err) }, 'lease renewal failed');
        }
      }
    }
  }

  private track(batch: ClaimedBatch, key: SourceKey): void {
    const bytes = batch.elements.reduce((n, e) => n + e.length, 0);
    this.held.add(batch);
    this.occupyingSlots.add(batch);
    this.preparing += 1;
    this.inflightBytes += bytes;
    this.parts.metrics.claimed.inc({ key: key.name }, batch.elements.length);
    this.updateGauges();
    const handler = this.handle(batch, key)
      .catch((err) => this.parts.logger.error({ inflight: batch.inflightKey, err: errorMessage(err) }, 'batch handling failed; it will be redelivered'))
      .finally(() => {
        this.held.delete(batch);
        this.occupyingSlots.delete(batch);
        this.inflightBytes -= bytes;
        this.handlers.delete(handler);
        this.updateGauges();
        this.claimTurns.roomFreed();
      });
    this.handlers.add(handler);
  }

  private updateGauges(): void {
    this.parts.metrics.inflightBatches.set(this.held.size);
    this.parts.metrics.inflightBytes.set(this.inflightBytes);
    for (const runner of this.runners) this.parts.metrics.queuedHeapBytes.set({ sink: runner.name }, runner.heldHeapBytes);
  }

  /**
   * Whether more batches are on their way: claimed and being prepared, being claimed, or about to be
   * claimed by a loop that is not sleeping, once there is room. A fold waiting for a write slot holds
   * back for them (SinkRunner.waitForBatchesWhile).
   */
  private moreBatchesComing(): boolean {
    return this.preparing > 0 || this.claimsInProgress > 0
      || (this.pausedKeys.size < this.claimLoopCount && !this.claiming.signal.aborted && this.hasRoom());
  }

  private reconsiderFolds(): void {
    for (const runner of this.runners) runner.reconsider();
  }

  /** Hands the batch to its sinks; then folds waiting for it may go. */
  private async dispatch(batch: ClaimedBatch, key: SourceKey): Promise<Dispatched> {
    try {
      return await this.dispatchTo(this.routesOf(key), batch, key);
    } finally {
      this.preparing -= 1;
      this.reconsiderFolds();
    }
  }

  /**
   * Decodes a claimed batch and hands each sink its share. Nothing here outlives the call but ids, raw
   * bytes and the sinks' own encodings, so the decoded records die young (or never reach this thread).
   */
  private async dispatchTo(routes: readonly SinkRoute[], batch: ClaimedBatch, key: SourceKey): Promise<Dispatched> {
    const { logger, metrics } = this.parts;
    const prepared = await this.prepare(batch, key, routes);
    metrics.decoded.inc({ key: key.name }, prepared.decoded);
    if (prepared.letters.length > 0) {
      logger.warn({ key: key.name, count: prepared.letters.length, first: prepared.letters[0]!.reason }, 'undecodable elements dead-lettered');
      metrics.deadLettered.inc({ kind: 'undecodable', sink: '' }, prepared.letters.length);
    }
    const deliveries = prepared.shares.map(({ route: index, recordIds, content }): SinkDelivery => {
      const route = routes[index]!;
      const escalate = route.retry ? this.escalation(route.retry, batch, key, prepared.id) : undefined;
      // A redelivered batch may be in the store already; folded in with fresh batches, it would make the
      // whole fold conflict (FoldConflictError), so it goes alone and the ledger skips it.
      const reprepare = batch.redelivered ? undefined : () => prepareShare(batch.elements, key, route, prepared.id);
      return { sink: route.runner.name, recordIds, done: route.runner.deliverShare(prepared.id, content, escalate, reprepare) };
    });
    if (prepared.shares.every(({ route }) => routes[route]!.runner.folds)) {
      this.occupyingSlots.delete(batch);
      this.claimTurns.roomFreed();
    }
    return { id: prepared.id, letters: prepared.letters, rawOf: rawBytesOf(prepared.elementIds, batch.elements), deliveries };
  }

  /**
   * In an encode thread when every sink of the batch encodes compactly (EncodingSink.compactEncoding); on
   * this thread otherwise, and for a batch whose thread failed.
   */
  private async prepare(batch: ClaimedBatch, key: SourceKey, routes: readonly SinkRoute[]): Promise<PreparedBatch> {
    const preparing = routes.map(preparingRoute);
    const pool = this.parts.encodePool;
    if (pool?.available && preparesOffThread(preparing.map((r) => r.sink))) {
      try {
        return await pool.prepare(batch.elements, key.encoding, key.name);
      } catch (err) {
        if (!(err instanceof EncodeThreadError)) throw err;
        this.parts.logger.warn({ key: key.name, err: err.message }, 'encode thread failed; preparing the batch on the main thread');
      }
    }
    return prepareBatch(batch.elements, key.encoding, key.name, preparing);
  }

  private async handle(batch: ClaimedBatch, key: SourceKey): Promise<void> {
    const { id, letters, rawOf, deliveries } = await this.dispatch(batch, key);
    const settled = await Promise.allSettled(deliveries.map((d) => d.done));
    settled.forEach((result, i) => {
      const { sink, recordIds } = deliveries[i]!;
      if (result.status === 'fulfilled') letters.push(...this.lettersOf(result.value, sink, key, rawOf));
      else if (result.reason instanceof SinkError) letters.push(...this.wholeBatchLetters(result.reason, sink, key, recordIds, rawOf));
    });
    const interrupted = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof SinkError));
    await this.untilStored(() => this.parts.deadLetters.add(letters), 'dead letters');
    if (interrupted) {
      await this.parts.claims.release(batch);
      if (!(interrupted.reason instanceof ShutdownError)) throw interrupted.reason;
      return;
    }
    this.acking.add(batch);
    await this.untilStored(() => this.parts.claims.ack(batch), 'ack');
    this.parts.logger.debug({ key: key.name, batch: id, elements: batch.elements.length, redelivered: batch.redelivered }, 'batch delivered');
  }

  private escalation(retry: RetryQueue, batch: ClaimedBatch, key: SourceKey, batchId: string) {
    return (lastError: string) => retry.add({
      sink: retry.sink, batchId, sourceKey: key.name, encoding: key.encoding,
      elements: batch.elements.map((e) => e.toString('base64')), firstError: lastError,
    });
  }

  /**
   * The sink works again, so one batch of its retry queue, the one due soonest, is tried now rather than
   * after its backoff, which after a long outage has grown to minutes or hours; once a retried batch is
   * written, the others follow (retryJob). One batch, not all: each retry that fails spends one of the
   * batch's attempts, and a sink that answers a health probe, or takes one write, may still fail the
   * next. Otherwise the batches wait out their backoff, as they would have anyway.
   */
  private retryOneNow(sink: string, retry: RetryQueue): void {
    if (this.claiming.signal.aborted) return;
    retry.retryOneDelayedNow().then(
      (batch) => {
        if (batch) this.parts.logger.info({ sink, batch }, 'sink works again; trying one batch of its retry queue now, the rest once it is written');
      },
      (err: unknown) => this.parts.logger.warn({ sink, err: errorMessage(err) }, 'cannot make a batch of the retry queue due now; it waits out its backoff'),
    );
  }

  /** A retried batch was written: the sink takes writes, so the batches waiting out a backoff are due now. */
  private async retryTheRestNow(sink: string, retry: RetryQueue): Promise<void> {
    try {
      const promoted = await retry.retryDelayedNow();
      if (promoted > 0) this.parts.logger.info({ sink, batches: promoted }, 'a retried batch was written; the batches waiting in its retry queue are due now');
    } catch (err) {
      this.parts.logger.warn({ sink, err: errorMessage(err) }, 'cannot make the retry queue\'s waiting batches due now; they wait out their backoff');
    }
  }

  private runRetryJob(route: SinkRoute, job: Job<RetryJobData>, token: string | undefined, encodingOf: Map<string, SourceKey['encoding']>): Promise<void> {
    // A worker paused at stop may still take the job its last fetch was waiting for (BullMQ's blocking
    // fetch is not interrupted by a pause): that one goes back untried, not into a write that stop cancels.
    const running = this.claiming.signal.aborted ? handBackUntried(job, token) : this.retryJob(route, job, encodingOf);
    this.retryJobsRunning.add(running);
    const forget = () => this.retryJobsRunning.delete(running);
    running.then(forget, forget);
    return running;
  }

  /**
   * A batch from a sink's retry queue: decoded again from its raw elements and written to that sink only,
   * under the job's batch id (a replay of dead letters carries a fresh one, see `sluice dlq replay`).
   */
  private async retryJob(route: SinkRoute, job: Job<RetryJobData>, encodingOf: Map<string, SourceKey['encoding']>): Promise<void> {
    const { data } = job;
    const elements = data.elements.map((b64) => Buffer.from(b64, 'base64'));
    const prepared = prepareBatch(elements, encodingOf.get(data.sourceKey) ?? data.encoding, data.sourceKey, [preparingRoute(route)], data.batchId);
    const [share] = prepared.shares;
    if (!share) return;
    if (share.content.kind === 'refused') throw new UnrecoverableError(share.content.reason);
    const timeout = route.runner.timeoutSeconds > 0 ? route.runner.timeoutSeconds * 1000 : 5 * 60_000;
    let outcome: WriteOutcome;
    try {
      outcome = await route.runner.writeFromRetryQueue(share.content, AbortSignal.timeout(timeout));
    } catch (err) {
      if (err instanceof SinkError && !err.transient) throw new UnrecoverableError(err.message);
      throw err;
    }
    this.parts.metrics.observeWrite(route.runner.name, 0, outcome);
    this.parts.metrics.observeWriteBatches(route.runner.name, 1);
    await this.parts.deadLetters.add(this.lettersOf({ kind: 'written', outcome }, route.runner.name, { name: data.sourceKey, encoding: data.encoding }, rawBytesOf(prepared.elementIds, elements)));
    this.parts.logger.info({ sink: route.runner.name, batch: data.batchId, attempt: job.attemptsMade + 1 }, 'retried batch written');
    if (route.retry && !this.claiming.signal.aborted) await this.retryTheRestNow(route.runner.name, route.retry);
  }

  private lettersOf(delivery: Delivery, sink: string, key: SourceKey, rawOf: RawBytesOf): DeadLetter[] {
    if (delivery.kind === 'queued') return [];
    return this.rejectedLetters(delivery.outcome, sink, key, rawOf);
  }

  private rejectedLetters(outcome: WriteOutcome, sink: string, key: SourceKey, rawOf: RawBytesOf): DeadLetter[] {
    if (outcome.rejected.length === 0) return [];
    this.parts.metrics.deadLettered.inc({ kind: 'rejected', sink }, outcome.rejected.length);
    this.parts.logger.warn({ sink, count: outcome.rejected.length, first: outcome.rejected[0]!.reason }, 'records rejected by the store dead-lettered');
    const at = new Date().toISOString();
    return outcome.rejected.map((r) => ({
      id: `${sink}:${r.recordId}`, kind: 'rejected' as const, reason: r.reason, sourceKey: key.name, sink, at,
      b64: rawOf(r.recordId)?.toString('base64') ?? '',
    }));
  }

  /** A sink that refuses a whole batch for good: every record it was given is kept as a dead letter for that sink. */
  private wholeBatchLetters(err: SinkError, sink: string, key: SourceKey, recordIds: readonly string[], rawOf: RawBytesOf): DeadLetter[] {
    this.parts.logger.error({ sink, err: err.message, records: recordIds.length }, 'sink refused a batch permanently; dead-lettered');
    return this.rejectedLetters({ written: 0, alreadyApplied: false, rejected: recordIds.map((recordId) => ({ recordId, reason: err.message })) }, sink, key, rawOf);
  }

  /** Redis bookkeeping after the sinks wrote: retried until it works, since the data is already stored. */
  private async untilStored(step: () => Promise<unknown>, what: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await step();
        return;
      } catch (err) {
        if (this.claiming.signal.aborted && attempt >= 3) throw err;
        const delay = backoffDelay(attempt, 100, 5_000);
        this.parts.logger.warn({ err: errorMessage(err), retryInMs: delay }, `${what} failed; retrying`);
        await sleep(delay);
      }
    }
  }

  get inflight(): number {
    return this.held.size;
  }

  /**
   * Graceful stop: no more claims; batches in progress get until `deadline` to finish; what is left is
   * handed back to Redis for redelivery. Sinks are closed last.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.claiming.abort();
    // Retry workers take no more jobs; the ones they are writing may finish within the deadline below.
    await Promise.allSettled(this.retryWorkers.map((w) => w.pause(true)));
    // No more claims: folds waiting for them go now rather than at the end of their wait.
    this.reconsiderFolds();
    const deadline = sleep(timeoutMs);
    await Promise.race([Promise.allSettled([...this.handlers]), deadline]);
    for (const runner of this.runners) {
      runner.stopAccepting();
      runner.cancel();
    }
    const step = <T>(name: string, pending: Promise<T>) => shutdownStep(this.parts.logger, name, pending);
    await step('batches to finish or be handed back', Promise.allSettled([...this.handlers]));
    await step('claim loops', Promise.allSettled([...this.loops, ...this.probes]));
    // Until none runs: a job the paused workers still took starts after the first look (runRetryJob).
    while (this.retryJobsRunning.size > 0) await step('retry jobs to finish', Promise.allSettled([...this.retryJobsRunning]));
    // Forced: the jobs have ended (a write cancelled above fails its job, and BullMQ schedules it again), and
    // a polite close QUITs the worker's own blocking connection, which on a Cluster that had lost a node
    // never answered (the Cluster failover test).
    await step('retry queue workers to close', Promise.allSettled(this.retryWorkers.map((w) => w.close(true))));
    await step('retry queues to close', Promise.allSettled(this.routes.map((r) => r.retry?.close())));
    await step('sinks to close', Promise.allSettled(this.runners.map((r) => r.close())));
    await step('encode threads to stop', this.parts.encodePool?.close() ?? Promise.resolve());
  }
}
