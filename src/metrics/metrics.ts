import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WriteOutcome } from '../../sinks/sink.js';

/*
 * Sluice's own Prometheus series. Labels are bounded: a source key (22 + 1), a sink (the configured pumps)
 * or a fixed reason; never a path, an API or an org.
 */

export interface SinkMetrics {
  observeWrite(sink: string, seconds: number, outcome: WriteOutcome): void;
  /** One committed write: a batch, or a fold of `batches` (aggregate sinks). */
  observeWriteBatches(sink: string, batches: number): void;
  retried(sink: string): void;
}

export class Metrics implements SinkMetrics {
  readonly registry = new Registry();

  readonly claimed = new Counter({ name: 'sluice_records_claimed_total', help: 'Elements picked up for delivery: claimed from gateway lists, or taken over from a worker whose lease expired (those also count in sluice_records_redelivered_total).', labelNames: ['key'], registers: [this.registry] });
  readonly redelivered = new Counter({ name: 'sluice_records_redelivered_total', help: 'Elements taken over from workers whose lease expired.', labelNames: ['key'], registers: [this.registry] });
  readonly decoded = new Counter({ name: 'sluice_records_decoded_total', help: 'Elements decoded into records.', labelNames: ['key'], registers: [this.registry] });
  readonly deadLettered = new Counter({ name: 'sluice_records_dead_lettered_total', help: 'Records moved to the dead letters.', labelNames: ['kind', 'sink'], registers: [this.registry] });
  readonly written = new Counter({ name: 'sluice_records_written_total', help: 'Records written by a sink.', labelNames: ['sink'], registers: [this.registry] });
  readonly duplicateBatches = new Counter({ name: 'sluice_batches_already_applied_total', help: 'Redelivered batches a sink had already applied.', labelNames: ['sink'], registers: [this.registry] });
  readonly retries = new Counter({ name: 'sluice_sink_write_retries_total', help: 'Failed sink writes that will be retried.', labelNames: ['sink'], registers: [this.registry] });
  readonly writeSeconds = new Histogram({
    name: 'sluice_sink_write_seconds', help: 'Time to write one batch.', labelNames: ['sink'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry],
  });
  readonly batchesPerWrite = new Histogram({
    name: 'sluice_sink_batches_per_write', help: 'Batches one committed write held: 1, or more when an aggregate sink folded a backlog.',
    labelNames: ['sink'], buckets: [1, 2, 4, 8, 16, 32], registers: [this.registry],
  });
  readonly lastWrite = new Gauge({ name: 'sluice_sink_last_success_timestamp_seconds', help: 'When a sink last wrote a batch.', labelNames: ['sink'], registers: [this.registry] });
  readonly foldedDimensions = new Counter({ name: 'sluice_aggregate_dimension_entries_folded_total', help: 'Aggregate dimension entries folded into `other` because a document reached its budget.', labelNames: ['sink', 'dimension'], registers: [this.registry] });
  readonly backlog = new Gauge({ name: 'sluice_backlog_records', help: 'Records waiting in a gateway list.', labelNames: ['key'], registers: [this.registry] });
  readonly oldestAge = new Gauge({ name: 'sluice_backlog_oldest_age_seconds', help: 'Age of the oldest record waiting in a gateway list (0 when empty).', labelNames: ['key'], registers: [this.registry] });
  readonly retryDepth = new Gauge({ name: 'sluice_retry_queue_depth', help: 'Batches waiting in a sink\'s retry queue.', labelNames: ['sink'], registers: [this.registry] });
  readonly deadBatches = new Gauge({ name: 'sluice_dead_batches', help: 'Batches that exhausted their retries (BullMQ failed set).', labelNames: ['sink'], registers: [this.registry] });
  readonly deadLetters = new Gauge({ name: 'sluice_dead_letters', help: 'Dead letters kept in Redis.', registers: [this.registry] });
  readonly inflightBatches = new Gauge({ name: 'sluice_inflight_batches', help: 'Claimed batches not yet acknowledged.', registers: [this.registry] });
  readonly inflightBytes = new Gauge({ name: 'sluice_memory_budget_used_bytes', help: 'Raw bytes of claimed batches held in memory.', registers: [this.registry] });
  readonly queuedHeapBytes = new Gauge({ name: 'sluice_sink_queued_heap_bytes', help: 'Heap held by encodings waiting for or in a sink\'s write, as the sink estimates it (folded aggregate rows); counted against memory_budget_mb.', labelNames: ['sink'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'sluice_' });
  }

  observeWrite(sink: string, seconds: number, outcome: WriteOutcome): void {
    this.writeSeconds.observe({ sink }, seconds);
    this.written.inc({ sink }, outcome.written);
    if (outcome.alreadyApplied) this.duplicateBatches.inc({ sink });
    this.lastWrite.set({ sink }, Date.now() / 1000);
  }

  observeWriteBatches(sink: string, batches: number): void {
    this.batchesPerWrite.observe({ sink }, batches);
  }

  retried(sink: string): void {
    this.retries.inc({ sink });
  }
}
