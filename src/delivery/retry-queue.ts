import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Encoding } from '../decode/index.js';
import type { RetrySettings } from '../config/types.js';

/**
 * A batch a sink could not take in process, kept in Redis with its raw elements so it can be decoded and
 * written again later, by any worker, after any restart.
 */
export interface RetryJobData {
  sink: string;
  batchId: string;
  sourceKey: string;
  encoding: Encoding;
  /** The batch's elements exactly as the gateway wrote them, base64. */
  elements: string[];
  firstError: string;
}

/** All retry queues share one hash tag, so every key BullMQ makes for them lives in one Cluster slot. */
export const RETRY_QUEUE_PREFIX = '{sluice}';

/**
 * The analytics key prefix is part of the name: two Sluice deployments that share a Redis but drain
 * different gateways (different `key_prefix`) must not consume each other's retries.
 */
export function retryQueueName(sink: string, keyPrefix = ''): string {
  return `retry-${keyPrefix}${sink.toLowerCase()}`;
}

/**
 * A sink's durable retry queue on BullMQ: exponential backoff, bounded attempts, and the batches that run
 * out of attempts stay in BullMQ's failed set — Sluice's dead letters for whole batches.
 */
export class RetryQueue {
  readonly queue: Queue<RetryJobData>;
  readonly name: string;

  constructor(connection: Redis | Cluster, readonly sink: string, private readonly settings: RetrySettings, keyPrefix = '') {
    this.name = retryQueueName(sink, keyPrefix);
    this.queue = new Queue<RetryJobData>(this.name, { connection, prefix: RETRY_QUEUE_PREFIX });
  }

  /** Idempotent per batch: the job id is the batch id, so a batch queued twice (crash before ack) is one job. */
  async add(data: RetryJobData): Promise<void> {
    await this.queue.add('batch', data, {
      jobId: data.batchId,
      attempts: this.settings.queue_attempts,
      backoff: { type: 'exponential', delay: this.settings.queue_backoff_ms },
      removeOnComplete: true,
      removeOnFail: false,
    });
  }

  /** Makes the batch that waits out a backoff and is due soonest due now; returns its batch id, if any waits. */
  async retryOneDelayedNow(): Promise<string | undefined> {
    const [job] = await this.queue.getJobs(['delayed'], 0, 0, true);
    if (!job) return undefined;
    try {
      await job.promote();
    } catch (err) {
      // Moved on since it was listed (another recovery, promoteJobs, or its backoff ran out): it is due
      // or being tried already, which is what was asked.
      if ((await job.getState()) === 'delayed') throw err;
    }
    return job.data.batchId;
  }

  /** Makes every batch waiting out a backoff due now; returns about how many there were. */
  async retryDelayedNow(): Promise<number> {
    const delayed = await this.queue.getDelayedCount();
    if (delayed > 0) await this.queue.promoteJobs();
    return delayed;
  }

  /** Batches waiting for a retry (not yet dead). */
  async backlog(): Promise<number> {
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'paused');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async deadCount(): Promise<number> {
    return this.queue.getFailedCount();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * Retried batches a worker writes at once. A batch is small (a claim from one gateway list) and its
 * retry spends most of its time waiting on Redis and the store, so one at a time drained a backlog of a
 * few hundred at the pace of round trips: about 20 s on an idle machine (9 s four at once), and once past
 * a test's 90 s on a loaded one. The ledger makes concurrent writes of distinct batches safe.
 */
const RETRY_CONCURRENCY = 4;

/** How long a batch handed back untried waits before any worker may take it. */
const HANDED_BACK_DELAY_MS = 1_000;

/**
 * Hands a job this worker took but will not try (it is stopping) back to the queue, due again shortly for
 * any worker, without spending one of its attempts; the rejection tells BullMQ the job has moved on.
 */
export async function handBackUntried(job: Job<RetryJobData>, token: string | undefined): Promise<never> {
  await job.moveToDelayed(Date.now() + HANDED_BACK_DELAY_MS, token);
  throw new DelayedError();
}

/** Consumes a retry queue; `handle` throws to have BullMQ back off and try again. */
export function startRetryWorker(
  connection: Redis | Cluster,
  queue: RetryQueue,
  handle: (job: Job<RetryJobData>, token: string | undefined) => Promise<void>,
): Worker<RetryJobData> {
  return new Worker<RetryJobData>(queue.name, handle, { connection, prefix: RETRY_QUEUE_PREFIX, concurrency: RETRY_CONCURRENCY });
}
