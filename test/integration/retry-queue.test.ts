import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RetryQueue, handBackUntried, startRetryWorker, type RetryJobData } from '../../src/delivery/retry-queue.js';
import { REDIS_URL, deleteMatching, retryQueueKeys, uniquePrefix } from '../harness/redis.js';

/*
 * A sink's retry queue on a real Redis (BullMQ): which waiting batches a recovery makes due, that two
 * recoveries noticed at once (a write and a health probe, say) do not fail each other, and that a stopping
 * worker hands back what it took without spending an attempt.
 */

const SETTINGS = { in_process_attempts: 1, in_process_backoff_ms: 10, queue_attempts: 3, queue_backoff_ms: 60_000, queue_max_backlog: 10 };
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const queues: RetryQueue[] = [];
const prefixes: string[] = [];

function retryQueue(): RetryQueue {
  const prefix = uniquePrefix('retry-queue');
  prefixes.push(prefix);
  const queue = new RetryQueue(redis, 'sink', SETTINGS, prefix);
  queues.push(queue);
  return queue;
}

const job = (batchId: string): RetryJobData => ({ sink: 'sink', batchId, sourceKey: 'k', encoding: 'msgpack', elements: [], firstError: 'down' });

/** A batch waiting out a backoff of `delayMs`, as a failed retry leaves it. */
async function delayed(queue: RetryQueue, batchId: string, delayMs: number): Promise<void> {
  await queue.queue.add('batch', job(batchId), { jobId: batchId, delay: delayMs });
}

const stateOf = async (queue: RetryQueue, batchId: string) => (await queue.queue.getJob(batchId))!.getState();

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close()));
  for (const prefix of prefixes.splice(0)) await deleteMatching(redis, retryQueueKeys(prefix));
});
afterAll(async () => {
  await redis.quit();
});

describe('retry queue', () => {
  it('a recovery makes the batch due soonest due now, and leaves the others waiting', async () => {
    const queue = retryQueue();
    await delayed(queue, 'later', 120_000);
    await delayed(queue, 'soonest', 60_000);
    expect(await queue.retryOneDelayedNow()).toBe('soonest');
    expect(await stateOf(queue, 'soonest')).toBe('waiting');
    expect(await stateOf(queue, 'later')).toBe('delayed');
  });

  it('two recoveries at once make the one waiting batch due, and neither fails', async () => {
    const queue = retryQueue();
    await delayed(queue, 'only', 60_000);
    // Both find the batch delayed; the second promotion finds it already moved on.
    expect(await Promise.all([queue.retryOneDelayedNow(), queue.retryOneDelayedNow()])).toEqual(['only', 'only']);
    expect(await stateOf(queue, 'only')).toBe('waiting');
  });

  it('with nothing waiting, a recovery has nothing to do', async () => {
    expect(await retryQueue().retryOneDelayedNow()).toBeUndefined();
  });

  it('a batch a stopping worker took goes back to the queue untried, its attempts unspent', async () => {
    const queue = retryQueue();
    await queue.add(job('taken'));
    const handled: string[] = [];
    const worker = startRetryWorker(redis, queue, async (taken, token) => {
      handled.push(taken.data.batchId);
      await handBackUntried(taken, token);
    });
    try {
      for (let i = 0; i < 100 && (handled.length === 0 || (await stateOf(queue, 'taken')) === 'active'); i++) await new Promise((r) => setTimeout(r, 50));
      await worker.pause(true);
      const taken = (await queue.queue.getJob('taken'))!;
      expect(handled).toEqual(['taken']);
      expect(await taken.getState()).toBe('delayed');
      expect(taken.attemptsMade).toBe(0);
      expect(await queue.queue.getFailedCount()).toBe(0);
    } finally {
      await worker.close(true);
    }
  });

  it('a written retry makes every waiting batch due', async () => {
    const queue = retryQueue();
    await delayed(queue, 'a', 60_000);
    await delayed(queue, 'b', 120_000);
    expect(await queue.retryDelayedNow()).toBe(2);
    expect([await stateOf(queue, 'a'), await stateOf(queue, 'b')]).toEqual(['waiting', 'waiting']);
  });
});
