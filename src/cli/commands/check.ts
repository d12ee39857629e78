import { errorMessage } from '../../errors.js';
import { redactCredentials } from '../../log/logger.js';
import { describeRedisTarget, explainRedisError } from '../../source/redis-connection.js';
import type { Sink } from '../../../sinks/sink.js';
import { buildSinks, closeRedis, connectRedis, type CommandContext } from './common.js';

/** A sink whose pump sets no `timeout` still gets this long to open and answer. */
const DEFAULT_SINK_TIMEOUT_MS = 10_000;

interface Probe {
  name: string;
  ok: boolean;
  /** Latency when ok, the exact error otherwise. */
  detail: string;
}

class ProbeTimeout extends Error {
  override readonly name = 'ProbeTimeout';
}

/** Runs `step` against a deadline; on expiry aborts `controller` so the step can stop its I/O. */
async function withDeadline<T>(ms: number, controller: AbortController, step: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ProbeTimeout(`no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([step(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function elapsedMs(started: bigint): string {
  return `${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)} ms`;
}

async function probeRedis(ctx: CommandContext): Promise<Probe> {
  const storage = ctx.config.analytics_storage_config;
  const name = 'redis';
  const started = process.hrtime.bigint();
  try {
    const client = await connectRedis(ctx.config);
    try {
      await client.ping();
    } finally {
      await closeRedis(client);
    }
    return { name, ok: true, detail: `${elapsedMs(started)} (${describeRedisTarget(storage)})` };
  } catch (err) {
    return { name, ok: false, detail: explainRedisError(err, storage).message };
  }
}

/** open, then health, then close: the same steps the worker takes before its first batch. */
async function probeSink(sink: Sink<unknown>, timeoutMs: number): Promise<Probe> {
  const name = `sink ${sink.name}`;
  const started = process.hrtime.bigint();
  const controller = new AbortController();
  try {
    const health = await withDeadline(timeoutMs, controller, async () => {
      await sink.open(controller.signal);
      return sink.health();
    });
    if (!health.ok) return { name, ok: false, detail: redactCredentials(health.detail ?? 'unhealthy') };
    return { name, ok: true, detail: elapsedMs(started) };
  } catch (err) {
    // Driver messages can quote the connection string they were given.
    return { name, ok: false, detail: redactCredentials(errorMessage(err)) };
  } finally {
    await sink.close().catch(() => undefined);
  }
}

function sinkTimeoutMs(ctx: CommandContext, sinkName: string): number {
  const seconds = ctx.config.pumps.find((p) => p.name === sinkName)?.timeout ?? 0;
  return seconds > 0 ? seconds * 1000 : DEFAULT_SINK_TIMEOUT_MS;
}

/**
 * `sluice check`: the configuration is valid (main has loaded it) and every dependency answers. One line
 * per dependency; exit 0 when all are reachable, 1 otherwise.
 */
export async function checkCommand(ctx: CommandContext): Promise<number> {
  const sinks = await buildSinks(ctx.config, ctx.logger);
  const probes = await Promise.all([probeRedis(ctx), ...sinks.map((s) => probeSink(s, sinkTimeoutMs(ctx, s.name)))]);
  for (const p of probes) ctx.out(`${p.ok ? 'ok  ' : 'FAIL'}  ${p.name}: ${p.detail}\n`);
  const failed = probes.filter((p) => !p.ok).length;
  ctx.out(failed === 0 ? `all ${probes.length} dependencies reachable\n` : `${failed} of ${probes.length} dependencies unreachable\n`);
  return failed === 0 ? 0 : 1;
}
