import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';
import type { SourceKey } from '../source/source-keys.js';
import type { RetryQueue } from '../delivery/retry-queue.js';
import type { DeadLetters } from '../delivery/dead-letters.js';
import { decoders } from '../decode/index.js';
import { sleep } from '../delivery/backoff.js';
import { errorMessage } from '../errors.js';
import type { Metrics } from './metrics.js';

export interface BacklogSources {
  redis: Redis | Cluster;
  keys: readonly SourceKey[];
  retryQueues: readonly RetryQueue[];
  deadLetters: DeadLetters;
}

/** Seconds since the record at the head of a list was made; undefined when it does not decode. */
function ageOf(head: Buffer, key: SourceKey, nowMs: number): number | undefined {
  try {
    const record = decoders[key.encoding](head);
    return Math.max(0, nowMs / 1000 - record.timestamp.sec);
  } catch {
    return undefined;
  }
}

async function sampleOnce(sources: BacklogSources, metrics: Metrics): Promise<void> {
  const now = Date.now();
  for (const key of sources.keys) {
    const [length, head] = await Promise.all([sources.redis.llen(key.name), sources.redis.lindexBuffer(key.name, 0)]);
    metrics.backlog.set({ key: key.name }, length);
    metrics.oldestAge.set({ key: key.name }, head ? ageOf(head, key, now) ?? 0 : 0);
  }
  for (const queue of sources.retryQueues) {
    metrics.retryDepth.set({ sink: queue.sink }, await queue.backlog());
    metrics.deadBatches.set({ sink: queue.sink }, await queue.deadCount());
  }
  metrics.deadLetters.set(await sources.deadLetters.count());
}

/**
 * Keeps the backlog gauges current (the alert Tyk users asked for: a dead pump fills Redis silently).
 * Sampled on a timer rather than per scrape, so a scrape never waits on Redis.
 */
export async function sampleBacklog(sources: BacklogSources, metrics: Metrics, logger: Logger, intervalMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await sampleOnce(sources, metrics).catch((err) => logger.debug({ err: errorMessage(err) }, 'backlog sample failed'));
    await sleep(intervalMs, signal);
  }
}
