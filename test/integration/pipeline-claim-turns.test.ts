import { afterAll, describe, expect, it } from 'vitest';
import { DeadLetters } from '../../src/delivery/dead-letters.js';
import { SinkRunner } from '../../src/delivery/sink-runner.js';
import { createLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { ClaimStore } from '../../src/source/claim-store.js';
import { analyticsKeys } from '../../src/source/source-keys.js';
import type { Sink, SinkBatch, WriteOutcome } from '../../sinks/sink.js';
import { distinctRecords } from '../harness/records.js';
import { deleteMatching, drained, msgpackKeys, redisClient, uniquePrefix } from '../harness/redis.js';

/*
 * The pipeline against a real Redis: with a backlog on all 11 gateway lists and fewer claim slots than
 * lists, the lists are claimed in turns, so they drain at the same pace. Each record names its list and
 * its batch's round in api_name; the sink notes the first record of each batch it is handed.
 */

const LISTS = 11;
const ROUNDS = 12;
const CHUNK = 20;

const redis = redisClient();
afterAll(() => redis.quit());

/** Notes the (list, round) of each batch; each write takes a few milliseconds, as a store's would. */
class RoundsSink implements Sink<AnalyticsRecord> {
  readonly name = 'ROUNDS';
  readonly seen: Array<{ list: number; round: number }> = [];
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async health() {
    return { ok: true };
  }
  async write(batch: SinkBatch<AnalyticsRecord>): Promise<WriteOutcome> {
    const [list, round] = batch.records[0]!.record.api_name.split(':').map(Number);
    this.seen.push({ list: list!, round: round! });
    await new Promise((r) => setTimeout(r, 3));
    return { written: batch.records.length, alreadyApplied: false, rejected: [] };
  }
}

/** The most batches any list had been handed ahead of another, once every list had been handed one. */
function widestLead(seen: ReadonlyArray<{ list: number }>): number {
  const handed = new Array<number>(LISTS).fill(0);
  let widest = 0;
  for (const { list } of seen) {
    handed[list] += 1;
    if (handed.every((n) => n > 0)) widest = Math.max(widest, Math.max(...handed) - Math.min(...handed));
  }
  return widest;
}

describe('claim loops take turns', () => {
  it(`a backlog on ${LISTS} lists drains them at the same pace`, async () => {
    const prefix = uniquePrefix('turns');
    const names = msgpackKeys(prefix);
    for (const [list, name] of names.entries()) {
      for (let round = 0; round < ROUNDS; round++) {
        await redis.rpush(name, ...distinctRecords(`${list}-${round}`, CHUNK, { api_name: `${list}:${round}` }));
      }
    }
    const logger = createLogger({ level: 'warn', destination: process.stderr });
    const metrics = new Metrics();
    const sink = new RoundsSink();
    const runner = new SinkRunner<unknown>(sink as Sink<unknown>, {
      logger, metrics, timeoutSeconds: 0, maxQueued: 4, writeConcurrency: 2, inProcessAttempts: 3, retryBaseMs: 50,
    });
    const pipeline = new Pipeline({
      claims: new ClaimStore(redis, `turns-${process.pid}`, 30_000),
      deadLetters: new DeadLetters(redis, `${prefix}dead-letters`),
      analyticsKeys: analyticsKeys(prefix).filter((k) => k.encoding === 'msgpack'),
      uptimeKey: null,
      encodePool: null,
      analytics: [{ runner, retry: null, prepare: (record) => record }],
      uptime: [],
      settings: {
        chunk: CHUNK, idleMs: 200, leaseMs: 30_000, maxInflightBatches: 4,
        maxInflightBytes: 64 * 1024 * 1024, maxQueuedHeapBytes: 32 * 1024 * 1024, maxRetryBacklog: 1_000,
      },
      logger,
      metrics,
    });
    try {
      pipeline.start(redis);
      const deadline = Date.now() + 30_000;
      while (!(sink.seen.length === LISTS * ROUNDS && (await drained(redis, names)))) {
        if (Date.now() > deadline) throw new Error(`not drained in 30 s: ${sink.seen.length} of ${LISTS * ROUNDS} batches written`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await pipeline.stop(10_000);
      await deleteMatching(redis, `${prefix}*`);
    }
    // Each list's batches in order, and no list more than a couple of batches ahead of another (the
    // batches in flight at once finish in any order).
    for (let list = 0; list < LISTS; list++) {
      expect(sink.seen.filter((b) => b.list === list).map((b) => b.round)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i));
    }
    expect(widestLead(sink.seen)).toBeLessThanOrEqual(2);
  });
});
