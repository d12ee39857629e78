import { decoders } from '../../decode/index.js';
import { DeadLetters, type DeadLetterKind } from '../../delivery/dead-letters.js';
import { timeToMillis, type GoTime } from '../../record/go-time.js';
import type { RedisClient } from '../../source/redis-connection.js';
import { inflightIndexKey, inflightOwner, type SourceKey } from '../../source/source-keys.js';
import {
  closeQueues, closeRedis, connectRedis, humanDuration, retryQueues, sourceKeysOf, table, type CommandContext,
} from './common.js';

interface InflightBatch {
  inflightKey: string;
  worker: string;
  elements: number;
  leaseExpiresAt: string;
  leaseExpired: boolean;
}

interface KeyStatus {
  key: string;
  encoding: string;
  backlog: number;
  /** Timestamp of the oldest waiting record; null when the list is empty or its head does not decode. */
  oldestRecordAt: string | null;
  oldestAgeSeconds: number | null;
  /** True when the head element exists but does not decode, so its age is unknown. */
  oldestUnknown: boolean;
  inflight: InflightBatch[];
}

interface SinkStatus {
  sink: string;
  retryBacklog: number;
  deadBatches: number;
}

interface DeadLetterGroup {
  kind: DeadLetterKind;
  sink: string | null;
  count: number;
}

export interface Status {
  at: string;
  keys: KeyStatus[];
  sinks: SinkStatus[];
  deadLetters: { key: string; total: number; groups: DeadLetterGroup[] };
}

/** The gateway's timestamp of the list's head element, or 'unknown' when it does not decode. */
async function oldestRecord(redis: RedisClient, key: SourceKey): Promise<number | 'unknown' | null> {
  const head = await redis.lindexBuffer(key.name, 0);
  if (head === null) return null;
  try {
    const record = decoders[key.encoding](head) as { timestamp: GoTime };
    return timeToMillis(record.timestamp);
  } catch {
    return 'unknown';
  }
}

async function inflightOf(redis: RedisClient, key: SourceKey, now: number): Promise<InflightBatch[]> {
  const flat = await redis.zrange(inflightIndexKey(key.name), 0, -1, 'WITHSCORES');
  const batches: InflightBatch[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const inflightKey = flat[i]!;
    const expiry = Number(flat[i + 1]);
    batches.push({
      inflightKey, worker: inflightOwner(inflightKey), elements: await redis.llen(inflightKey),
      leaseExpiresAt: new Date(expiry).toISOString(), leaseExpired: expiry <= now,
    });
  }
  return batches;
}

async function keyStatus(redis: RedisClient, key: SourceKey, now: number): Promise<KeyStatus> {
  const [backlog, oldest, inflight] = await Promise.all([redis.llen(key.name), oldestRecord(redis, key), inflightOf(redis, key, now)]);
  const known = typeof oldest === 'number';
  return {
    key: key.name, encoding: key.encoding, backlog,
    oldestRecordAt: known ? new Date(oldest).toISOString() : null,
    oldestAgeSeconds: known ? Math.max(0, (now - oldest) / 1000) : null,
    oldestUnknown: oldest === 'unknown',
    inflight,
  };
}

async function deadLetterSummary(redis: RedisClient, key: string): Promise<Status['deadLetters']> {
  const counts = new Map<string, DeadLetterGroup>();
  const letters = await new DeadLetters(redis, key).list();
  for (const letter of letters) {
    const sink = letter.sink ?? null;
    const id = `${letter.kind}\u0000${sink ?? ''}`;
    const group = counts.get(id) ?? { kind: letter.kind, sink, count: 0 };
    group.count += 1;
    counts.set(id, group);
  }
  return { key, total: letters.length, groups: [...counts.values()] };
}

async function readStatus(redis: RedisClient, ctx: CommandContext): Promise<Status> {
  const now = Date.now();
  const queues = await retryQueues(redis, ctx);
  try {
    const [keys, sinks, deadLetters] = await Promise.all([
      Promise.all(sourceKeysOf(ctx.config).map((k) => keyStatus(redis, k, now))),
      Promise.all(queues.map(async (q) => ({ sink: q.sink, retryBacklog: await q.backlog(), deadBatches: await q.deadCount() }))),
      deadLetterSummary(redis, ctx.config.sluice.dead_letter_key),
    ]);
    return { at: new Date(now).toISOString(), keys, sinks, deadLetters };
  } finally {
    await closeQueues(queues);
  }
}

function oldestCell(k: KeyStatus): string {
  if (k.oldestUnknown) return 'unknown';
  return k.oldestAgeSeconds === null ? '-' : humanDuration(k.oldestAgeSeconds * 1000);
}

function inflightCell(k: KeyStatus): string {
  if (k.inflight.length === 0) return '-';
  const perWorker = new Map<string, number>();
  for (const b of k.inflight) perWorker.set(b.worker, (perWorker.get(b.worker) ?? 0) + 1);
  const expired = k.inflight.filter((b) => b.leaseExpired).length;
  const workers = [...perWorker].map(([w, n]) => `${w}: ${n}`).join(', ');
  return `${k.inflight.length} (${workers})${expired ? `, ${expired} lease expired` : ''}`;
}

function render(status: Status): string {
  const keys = table(['SOURCE KEY', 'BACKLOG', 'OLDEST', 'IN FLIGHT'],
    status.keys.map((k) => [k.key, String(k.backlog), oldestCell(k), inflightCell(k)]));
  const sinks = table(['SINK', 'RETRY BACKLOG', 'DEAD BATCHES'],
    status.sinks.map((s) => [s.sink, String(s.retryBacklog), String(s.deadBatches)]));
  const letters = table(['DEAD LETTERS', 'SINK', 'COUNT'],
    status.deadLetters.groups.map((g) => [g.kind, g.sink ?? '-', String(g.count)]));
  return `${keys}\n${sinks}\n${letters}total dead letters in ${status.deadLetters.key}: ${status.deadLetters.total}\n`;
}

/** `sluice status [--json]`: backlog, oldest record age and in-flight batches per key; retry and dead counts per sink. */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  const redis = await connectRedis(ctx.config);
  try {
    const status = await readStatus(redis, ctx);
    ctx.out(ctx.json ? `${JSON.stringify(status, null, 2)}\n` : render(status));
    return 0;
  } finally {
    await closeRedis(redis);
  }
}
