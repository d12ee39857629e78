import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from './log/logger.js';
import type { PumpConfiguration } from './config/types.js';
import { createRedisClient, describeRedisTarget, type RedisConnectionError } from './source/redis-connection.js';
import { ClaimStore } from './source/claim-store.js';
import { analyticsKeys, analyticsPrefix, uptimeKey } from './source/source-keys.js';
import { DeadLetters } from './delivery/dead-letters.js';
import { SinkRunner, type SinkRunnerOptions } from './delivery/sink-runner.js';
import { RetryQueue } from './delivery/retry-queue.js';
import { Metrics } from './metrics/metrics.js';
import { Pipeline, type PipelineSettings, type SinkRoute } from './pipeline/pipeline.js';
import { startHttpServer } from './http/server.js';
import { planSinks, type SinkPlan } from './pipeline/sink-plans.js';
import { EncodePool } from './pipeline/encode-pool.js';
import { preparesOffThread } from './pipeline/prepare-batch.js';
import type { SinkContext } from '../sinks/context.js';
import { errorMessage } from './errors.js';
import { runRetention } from './maintenance/retention.js';
import { sampleBacklog } from './metrics/backlog-sampler.js';
import { reportEveryMinute } from './metrics/minute-report.js';
import { shutdownStep } from './shutdown-step.js';
import { sleep } from './delivery/backoff.js';

/** How long a loop may go without progress before /live reports it stalled. */
const STALL_MS = 5 * 60_000;

export interface Worker {
  readonly id: string;
  stop(): Promise<void>;
}

/** How the pipeline claims and bounds its work, from pump.conf and the `sluice` settings. */
export function pipelineSettings(config: PumpConfiguration): PipelineSettings {
  const s = config.sluice;
  return {
    chunk: config.purge_chunk > 0 ? config.purge_chunk : s.default_chunk,
    idleMs: Math.max(50, config.purge_delay * 1000),
    leaseMs: Math.round(s.lease_seconds * 1000),
    maxInflightBatches: s.claim_concurrency,
    // Decoded records and per-sink copies take a few times the raw bytes.
    maxInflightBytes: (s.memory_budget_mb * 1024 * 1024) / 4,
    // Raw bytes are outside the heap; queued encodings are in it, beside everything else the worker keeps.
    maxQueuedHeapBytes: (s.memory_budget_mb * 1024 * 1024) / 8,
    maxRetryBacklog: s.retry.queue_max_backlog,
  };
}

export function sinkRunnerOptions(config: PumpConfiguration, logger: Logger, metrics: Metrics, timeoutSeconds: number): SinkRunnerOptions {
  const s = config.sluice;
  return {
    logger, metrics, timeoutSeconds, maxQueued: s.sink_queue_batches, writeConcurrency: 2,
    inProcessAttempts: s.retry.in_process_attempts, retryBaseMs: s.retry.in_process_backoff_ms,
  };
}

function workerId(configured: string): string {
  return configured || `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** How long a stopping worker waits for Redis to answer QUIT before it drops the connection. */
const QUIT_WAIT_MS = 2_000;

/**
 * QUIT, or a plain disconnect when it is not answered in time: by now every batch is acknowledged or handed
 * back, and a Cluster client that has lost a node may never answer.
 */
async function closeConnection(client: Redis | Cluster): Promise<void> {
  const answered = await Promise.race([client.quit().then(() => true, () => false), sleep(QUIT_WAIT_MS).then(() => false)]);
  if (!answered) client.disconnect();
}

/** Assembles a worker from the configuration and starts it: Redis, sinks, pipeline, HTTP. */
export async function startWorker(config: PumpConfiguration, logger: Logger): Promise<Worker> {
  const s = config.sluice;
  const id = workerId(s.worker_id);
  const metrics = new Metrics();
  const onRedisError = (err: RedisConnectionError) => logger.error({ err: err.message, settings: err.settings }, 'Redis connection failed; retrying');
  const redis: Redis | Cluster = createRedisClient(config.analytics_storage_config, { name: `sluice:${id}`, onError: onRedisError });
  // BullMQ blocks on its connection while it waits for retry jobs, so it gets one of its own.
  const queueConnection = createRedisClient(config.analytics_storage_config, { name: `sluice:${id}:retry`, blocking: true, onError: onRedisError });
  const leaseMs = Math.round(s.lease_seconds * 1000);
  const ctx: SinkContext = { logger, config, metrics };
  const route = ({ sink, timeoutSeconds, prepare }: SinkPlan): SinkRoute => ({
    runner: new SinkRunner(sink, sinkRunnerOptions(config, logger, metrics, timeoutSeconds)),
    retry: new RetryQueue(queueConnection, sink.name, s.retry, analyticsPrefix(config.analytics_storage_config)),
    prepare,
  });
  const plans = await planSinks(config, ctx);
  const analytics = plans.analytics.map(route);
  const uptime = plans.uptime.map(route);
  const encodePool = s.encode_threads > 0 && [plans.analytics, plans.uptime].some((p) => preparesOffThread(p.map((r) => r.sink)))
    ? new EncodePool(config, s.encode_threads, logger)
    : null;
  const pipeline = new Pipeline({
    claims: new ClaimStore(redis, id, leaseMs),
    deadLetters: new DeadLetters(redis, s.dead_letter_key),
    analyticsKeys: analyticsKeys(analyticsPrefix(config.analytics_storage_config)),
    uptimeKey: config.dont_purge_uptime_data ? null : uptimeKey(),
    analytics,
    uptime,
    settings: pipelineSettings(config),
    encodePool,
    logger,
    metrics,
  });
  const runners = [...analytics, ...uptime].map((r) => r.runner);
  let server: Server | undefined;
  try {
    server = await startHttpServer({
      port: config.health_check_endpoint_port,
      tykHealthName: config.health_check_endpoint_name,
      metrics,
      probes: {
        live: () => {
          const now = Date.now();
          const claimAge = now - pipeline.lastClaimLoopAt;
          const stalledSinks = runners.filter((r) => r.queued > 0 && now - r.lastProgressAt > STALL_MS).map((r) => r.name);
          return { ok: claimAge < STALL_MS && stalledSinks.length === 0, detail: { claimLoopAgeMs: claimAge, stalledSinks } };
        },
        ready: async () => {
          const redisOk = await redis.ping().then(() => true, () => false);
          const sinks = Object.fromEntries(await Promise.all(runners.map(async (r) => [r.name, (await r.sink.health()).ok] as const)));
          return { ok: redisOk && Object.values(sinks).every(Boolean), detail: { redis: redisOk, sinks } };
        },
      },
    });
  } catch (err) {
    logger.error({ port: config.health_check_endpoint_port, err: errorMessage(err) }, 'health endpoint cannot listen; continuing without it');
  }
  pipeline.start(queueConnection);
  const maintenance = new AbortController();
  const retention = runRetention(config, logger, maintenance.signal);
  const sampling = sampleBacklog({
    redis,
    keys: [...analyticsKeys(analyticsPrefix(config.analytics_storage_config)), ...(config.dont_purge_uptime_data ? [] : [uptimeKey()])],
    retryQueues: [...analytics, ...uptime].flatMap((r) => (r.retry ? [r.retry] : [])),
    deadLetters: new DeadLetters(redis, s.dead_letter_key),
  }, metrics, logger, 5_000, maintenance.signal);
  const reporting = reportEveryMinute(metrics, logger, maintenance.signal);
  logger.info({ worker: id, redis: describeRedisTarget(config.analytics_storage_config), pumps: config.pumps.map((p) => `${p.name}:${p.type}`), encodeThreads: encodePool ? s.encode_threads : 0 }, 'sluice started');
  return {
    id,
    async stop() {
      logger.info({ worker: id, inflight: pipeline.inflight }, 'stopping: no more claims; finishing batches in flight');
      maintenance.abort();
      await shutdownStep(logger, 'maintenance tasks', Promise.all([retention, sampling, reporting]));
      await pipeline.stop(s.shutdown_timeout * 1000);
      await shutdownStep(logger, 'health endpoint to close', new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));
      await shutdownStep(logger, 'Redis connections to close', Promise.all([redis, queueConnection].map(closeConnection)));
      logger.info({ worker: id }, 'stopped');
    },
  };
}
