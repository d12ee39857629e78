import type { Logger } from '../../log/logger.js';
import type { PumpConfiguration } from '../../config/types.js';
import { createRedisClient, waitUntilReady, type RedisClient } from '../../source/redis-connection.js';
import { RetryQueue } from '../../delivery/retry-queue.js';
import { analyticsKeys, analyticsPrefix, uptimeKey, type SourceKey } from '../../source/source-keys.js';
import { createAnalyticsSink, createUptimeSink } from '../../../sinks/registry.js';
import type { Sink } from '../../../sinks/sink.js';

/** What every operator command gets from main: the loaded configuration and the parsed command line. */
export interface CommandContext {
  config: PumpConfiguration;
  /** Writes to stderr, so a command's stdout stays machine-readable. */
  logger: Logger;
  /** Positionals after the command name, e.g. `list` for `sluice dlq list`. */
  args: string[];
  json: boolean;
  sink: string | undefined;
  ids: string[];
  olderThan: string | undefined;
  out(text: string): void;
}

/** A command line an operator got wrong; main prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** How long a command waits for Redis before it reports the failure. */
export function redisWaitMs(config: PumpConfiguration): number {
  const timeout = config.analytics_storage_config.timeout;
  return (timeout > 0 ? timeout : 5) * 1000;
}

/**
 * A Redis client that is ready, or a RedisConnectionError naming the settings to check. The client's own
 * reports are swallowed: the command reports the one failure that matters, once.
 */
export async function connectRedis(config: PumpConfiguration): Promise<RedisClient> {
  const client = createRedisClient(config.analytics_storage_config, { name: 'sluice:cli', onError: () => undefined });
  try {
    await waitUntilReady(client, config.analytics_storage_config, redisWaitMs(config));
    return client;
  } catch (err) {
    client.disconnect();
    throw err;
  }
}

export async function closeRedis(client: RedisClient): Promise<void> {
  await client.quit().catch(() => client.disconnect());
}

/** Every gateway list the worker drains with this configuration, in the worker's order. */
export function sourceKeysOf(config: PumpConfiguration): SourceKey[] {
  const analytics = analyticsKeys(analyticsPrefix(config.analytics_storage_config));
  return config.dont_purge_uptime_data ? analytics : [...analytics, uptimeKey()];
}

/** The sinks the worker would run, built (not opened) through the registry, so names match the worker's. */
export async function buildSinks(config: PumpConfiguration, logger: Logger): Promise<Array<Sink<unknown>>> {
  const ctx = { logger, config };
  const analytics = await Promise.all(config.pumps.map(async (pump) => (await createAnalyticsSink(pump, ctx)) as Sink<unknown>));
  return config.dont_purge_uptime_data ? analytics : [...analytics, (await createUptimeSink(config.uptime_pump_config, ctx)) as Sink<unknown>];
}

/** The retry queue of each sink (optionally only `only`), over `redis`; close them with closeQueues. */
export async function retryQueues(redis: RedisClient, ctx: CommandContext): Promise<RetryQueue[]> {
  const names = (await buildSinks(ctx.config, ctx.logger)).map((s) => s.name);
  if (ctx.sink !== undefined && !names.includes(ctx.sink)) {
    throw new UsageError(`no sink named "${ctx.sink}"; configured sinks: ${names.join(', ')}`);
  }
  return names.filter((n) => ctx.sink === undefined || n === ctx.sink).map((n) => new RetryQueue(redis, n, ctx.config.sluice.retry, analyticsPrefix(ctx.config.analytics_storage_config)));
}

export async function closeQueues(queues: readonly RetryQueue[]): Promise<void> {
  await Promise.allSettled(queues.map((q) => q.close()));
}

/** Left-aligned columns, for the human forms of `status` and `dlq list`. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A duration for people: 45s, 12m, 3h5m, 2d4h. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600) ? `${Math.floor((s % 86_400) / 3600)}h` : ''}`;
}

const DURATION_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses `30m`, `12h`, `7d` (also `s` and `w`) into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhdw])$/.exec(text.trim());
  if (!match) throw new UsageError(`"${text}" is not a duration like 30m, 12h or 7d`);
  return Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
}
