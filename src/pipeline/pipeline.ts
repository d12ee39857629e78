import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors.js';
import { decoders, DecodeError } from '../decode/index.js';
import type { AnalyticsRecord } from '../record/analytics-record.js';
import type { UptimeRecord } from '../record/uptime-record.js';
import type { PumpConfig } from '../config/types.js';
import type { ClaimStore, ClaimedBatch } from '../source/claim-store.js';
import type { SourceKey } from '../source/source-keys.js';
import type { DeadLetter, DeadLetters } from '../delivery/dead-letters.js';
import type { SinkRunner } from '../delivery/sink-runner.js';
import { backoffDelay, ShutdownError, sleep } from '../delivery/backoff.js';
import type { Metrics } from '../metrics/metrics.js';
import { SinkError, type SinkRecord, type WriteOutcome } from '../../sinks/sink.js';
import { batchId, recordIds } from './identity.js';
import { processForPump } from './process.js';

export interface AnalyticsRoute {
  runner: SinkRunner<AnalyticsRecord>;
  pump: PumpConfig;
}

export interface PipelineSettings {
  /** Elements per claim (`purge_chunk`, or Sluice's default when Tyk's 0 means "everything"). */
  chunk: number;
  /** Wait before claiming again from a list that was empty or short (`purge_delay`). */
  idleMs: number;
  leaseMs: number;
  /** Claimed batches held at once, across all keys. */
  maxInflightBatches: number;
  /** Raw bytes of claimed batches held at once; decoded records take a few times more. */
  maxInflightBytes: number;
  globalMaxRecordSize: number;
  globalOmitDetailedRecording: boolean;
}

export interface PipelineParts {
  claims: ClaimStore;
  deadLetters: DeadLetters;
  analyticsKeys: readonly SourceKey[];
  uptimeKey: SourceKey | null;
  analytics: readonly AnalyticsRoute[];
  uptime: readonly SinkRunner<UptimeRecord>[];
  settings: PipelineSettings;
  logger: Logger;
  metrics: Metrics;
}

interface Decoded<R> {
  records: Array<SinkRecord<R>>;
  letters: DeadLetter[];
  rawById: Map<string, Buffer>;
}

/**
 * The worker's main loop (DESIGN.md "The flow"): one claim loop per gateway list, a reclaim loop for
 * orphaned in-flight lists, a lease renewal loop, and per batch: decode, dead-letter what does not decode,
 * hand each sink its processed copy, and acknowledge once every sink has it.
 */
export class Pipeline {
  private readonly claiming = new AbortController();
  private readonly held = new Set<ClaimedBatch>();
  private readonly handlers = new Set<Promise<void>>();
  private inflightBytes = 0;
  private loops: Array<Promise<void>> = [];
  lastClaimLoopAt = Date.now();

  constructor(private readonly parts: PipelineParts) {}

  private get runners(): Array<SinkRunner<unknown>> {
    return [...this.parts.analytics.map((r) => r.runner), ...this.parts.uptime] as Array<SinkRunner<unknown>>;
  }

  start(): void {
    const { analyticsKeys, uptimeKey } = this.parts;
    const keys = uptimeKey ? [...analyticsKeys, uptimeKey] : [...analyticsKeys];
    for (const runner of this.runners) runner.open().catch(() => {});
    this.loops = [
      ...keys.map((key) => this.claimLoop(key)),
      this.reclaimLoop(keys),
      this.renewLoop(),
    ];
  }

  private hasRoom(): boolean {
    const s = this.parts.settings;
    return this.held.size < s.maxInflightBatches
      && this.inflightBytes < s.maxInflightBytes
      && this.runners.every((r) => r.hasRoom());
  }

  private async waitForRoom(): Promise<boolean> {
    while (!this.hasRoom()) {
      if (this.claiming.signal.aborted) return false;
      await sleep(25, this.claiming.signal);
    }
    return !this.claiming.signal.aborted;
  }

  private async claimLoop(key: SourceKey): Promise<void> {
    const { claims, settings, logger } = this.parts;
    let failures = 0;
    while (await this.waitForRoom()) {
      this.lastClaimLoopAt = Date.now();
      let batch: ClaimedBatch | null;
      try {
        batch = await claims.claim(key.name, settings.chunk);
        failures = 0;
      } catch (err) {
        const delay = backoffDelay(failures++, 250, 10_000);
        logger.error({ key: key.name, err: errorMessage(err), retryInMs: delay }, 'claim failed; is Redis reachable?');
        await sleep(delay, this.claiming.signal);
        continue;
      }
      if (batch) this.track(batch, key);
      if (!batch || batch.elements.length < settings.chunk) await sleep(settings.idleMs, this.claiming.signal);
    }
  }

  private async reclaimLoop(keys: readonly SourceKey[]): Promise<void> {
    const { claims, settings, logger } = this.parts;
    const interval = Math.max(250, Math.min(settings.leaseMs / 2, 5_000));
    while (!this.claiming.signal.aborted) {
      for (const key of keys) {
        try {
          while (this.hasRoom() && !this.claiming.signal.aborted) {
            const [orphan] = await claims.takeOrphans(key.name, 1);
            if (!orphan) break;
            logger.info({ key: key.name, inflight: orphan.inflightKey, elements: orphan.elements.length }, 'took over an orphaned batch');
            this.parts.metrics.redelivered.inc({ key: key.name }, orphan.elements.length);
            this.track(orphan, key);
          }
        } catch (err) {
          logger.error({ key: key.name, err: errorMessage(err) }, 'reclaim failed');
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
          if (!(await claims.renew(batch))) logger.warn({ inflight: batch.inflightKey }, 'lease lost; another worker has taken this batch over');
        } catch (err) {
          logger.warn({ inflight: batch.inflightKey, err: errorMessage(err) }, 'lease renewal failed');
        }
      }
    }
  }

  private track(batch: ClaimedBatch, key: SourceKey): void {
    const bytes = batch.elements.reduce((n, e) => n + e.length, 0);
    this.held.add(batch);
    this.inflightBytes += bytes;
    this.parts.metrics.claimed.inc({ key: key.name }, batch.elements.length);
    this.updateGauges();
    const handler = this.handle(batch, key)
      .catch((err) => this.parts.logger.error({ inflight: batch.inflightKey, err: errorMessage(err) }, 'batch handling failed; it will be redelivered'))
      .finally(() => {
        this.held.delete(batch);
        this.inflightBytes -= bytes;
        this.handlers.delete(handler);
        this.updateGauges();
      });
    this.handlers.add(handler);
  }

  private updateGauges(): void {
    this.parts.metrics.inflightBatches.set(this.held.size);
    this.parts.metrics.inflightBytes.set(this.inflightBytes);
  }

  private decode<R>(batch: ClaimedBatch, key: SourceKey, ids: string[]): Decoded<R> {
    const decode = decoders[key.encoding] as (bytes: Uint8Array) => R;
    const out: Decoded<R> = { records: [], letters: [], rawById: new Map() };
    const at = new Date().toISOString();
    batch.elements.forEach((element, i) => {
      const id = ids[i]!;
      out.rawById.set(id, element);
      try {
        out.records.push({ id, record: decode(element), bytes: element.length });
      } catch (err) {
        const reason = err instanceof DecodeError ? err.message : `unexpected decoder failure: ${errorMessage(err)}`;
        out.letters.push({ id, kind: 'undecodable', reason, sourceKey: key.name, at, b64: element.toString('base64') });
      }
    });
    return out;
  }

  private async handle(batch: ClaimedBatch, key: SourceKey): Promise<void> {
    const { logger, metrics } = this.parts;
    const id = batchId(batch.elements);
    const decoded = this.decode<AnalyticsRecord | UptimeRecord>(batch, key, recordIds(batch.elements));
    metrics.decoded.inc({ key: key.name }, decoded.records.length);
    if (decoded.letters.length > 0) {
      logger.warn({ key: key.name, count: decoded.letters.length, first: decoded.letters[0]!.reason }, 'undecodable elements dead-lettered');
      metrics.deadLettered.inc({ kind: 'undecodable', sink: '' }, decoded.letters.length);
    }
    const deliveries = key.encoding === 'uptime'
      ? this.parts.uptime.map((runner) => ({ sink: runner.name, done: runner.deliver({ id, records: decoded.records as Array<SinkRecord<UptimeRecord>> }) }))
      : this.routeAnalytics(id, decoded.records as Array<SinkRecord<AnalyticsRecord>>);
    const settled = await Promise.allSettled(deliveries.map((d) => d.done));
    const letters = [...decoded.letters];
    settled.forEach((result, i) => {
      const sink = deliveries[i]!.sink;
      if (result.status === 'fulfilled') letters.push(...this.rejectedLetters(result.value, sink, key, decoded.rawById));
      else if (result.reason instanceof SinkError) letters.push(...this.wholeBatchLetters(result.reason, sink, key, decoded));
    });
    const interrupted = settled.find((r) => r.status === 'rejected' && !(r.reason instanceof SinkError));
    await this.untilStored(() => this.parts.deadLetters.add(letters), 'dead letters');
    if (interrupted) {
      await this.parts.claims.release(batch);
      if (!((interrupted as PromiseRejectedResult).reason instanceof ShutdownError)) throw (interrupted as PromiseRejectedResult).reason;
      return;
    }
    await this.untilStored(() => this.parts.claims.ack(batch), 'ack');
    logger.debug({ key: key.name, batch: id, elements: batch.elements.length, redelivered: batch.redelivered }, 'batch delivered');
  }

  private routeAnalytics(id: string, records: Array<SinkRecord<AnalyticsRecord>>) {
    const { settings } = this.parts;
    return this.parts.analytics
      .map(({ runner, pump }) => ({
        sink: runner.name,
        records: processForPump(records, { pump, globalMaxRecordSize: settings.globalMaxRecordSize, globalOmitDetailedRecording: settings.globalOmitDetailedRecording }),
        runner,
      }))
      .filter((route) => route.records.length > 0)
      .map((route) => ({ sink: route.sink, done: route.runner.deliver({ id, records: route.records }) }));
  }

  private rejectedLetters(outcome: WriteOutcome, sink: string, key: SourceKey, raw: Map<string, Buffer>): DeadLetter[] {
    if (outcome.rejected.length === 0) return [];
    this.parts.metrics.deadLettered.inc({ kind: 'rejected', sink }, outcome.rejected.length);
    this.parts.logger.warn({ sink, count: outcome.rejected.length, first: outcome.rejected[0]!.reason }, 'records rejected by the store dead-lettered');
    const at = new Date().toISOString();
    return outcome.rejected.map((r) => ({
      id: `${sink}:${r.recordId}`, kind: 'rejected' as const, reason: r.reason, sourceKey: key.name, sink, at,
      b64: raw.get(r.recordId)?.toString('base64') ?? '',
    }));
  }

  /** A sink that refuses a whole batch for good: every record of it is kept as a dead letter for that sink. */
  private wholeBatchLetters(err: SinkError, sink: string, key: SourceKey, decoded: Decoded<unknown>): DeadLetter[] {
    this.parts.logger.error({ sink, err: err.message, records: decoded.records.length }, 'sink refused a batch permanently; dead-lettered');
    return this.rejectedLetters({ written: 0, alreadyApplied: false, rejected: decoded.records.map((r) => ({ recordId: r.id, reason: err.message })) }, sink, key, decoded.rawById);
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
    const deadline = sleep(timeoutMs);
    await Promise.race([Promise.allSettled([...this.handlers]), deadline]);
    for (const runner of this.runners) {
      runner.stopAccepting();
      runner.cancel();
    }
    await Promise.allSettled([...this.handlers]);
    await Promise.allSettled(this.loops);
    await Promise.allSettled(this.runners.map((r) => r.close()));
  }
}
