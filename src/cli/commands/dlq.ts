import type { Job } from 'bullmq';
import { DeadLetters, type DeadLetter, type DeadLetterKind } from '../../delivery/dead-letters.js';
import type { RetryJobData, RetryQueue } from '../../delivery/retry-queue.js';
import type { RedisClient } from '../../source/redis-connection.js';
import { replayBatchId } from '../../pipeline/identity.js';
import {
  closeQueues, closeRedis, connectRedis, parseDuration, retryQueues, sourceKeysOf, table, UsageError, type CommandContext,
} from './common.js';

/**
 * One dead letter as an operator sees it: an element from the dead-letter hash, or a whole batch that ran
 * out of attempts in a sink's retry queue (kind `exhausted`). The raw bytes are not shown: records carry
 * raw requests, which can hold credentials.
 */
interface Entry {
  id: string;
  kind: DeadLetterKind;
  sink: string | null;
  sourceKey: string;
  at: string;
  reason: string;
  /** Elements: 1 for a letter, the batch's size for an exhausted batch. */
  elements: number;
}

function letterEntry(l: DeadLetter): Entry {
  return { id: l.id, kind: l.kind, sink: l.sink ?? null, sourceKey: l.sourceKey, at: l.at, reason: l.reason, elements: 1 };
}

function batchEntry(job: Job<RetryJobData>): Entry {
  return {
    id: job.id!, kind: 'exhausted', sink: job.data.sink, sourceKey: job.data.sourceKey,
    at: new Date(job.finishedOn ?? job.timestamp).toISOString(), reason: job.failedReason, elements: job.data.elements.length,
  };
}

/** Letters in the hash that match --sink and --id (no filter: all of them). */
async function selectedLetters(letters: DeadLetters, ctx: CommandContext): Promise<DeadLetter[]> {
  const all = await letters.list();
  return all.filter((l) => (ctx.sink === undefined || l.sink === ctx.sink) && (ctx.ids.length === 0 || ctx.ids.includes(l.id)));
}

async function selectedBatches(queue: RetryQueue, ctx: CommandContext): Promise<Array<Job<RetryJobData>>> {
  const failed = (await queue.queue.getFailed()) as Array<Job<RetryJobData>>;
  return failed.filter((job) => ctx.ids.length === 0 || ctx.ids.includes(job.id!));
}

async function list(redis: RedisClient, queues: RetryQueue[], ctx: CommandContext): Promise<void> {
  const letters = await selectedLetters(new DeadLetters(redis, ctx.config.sluice.dead_letter_key), ctx);
  const batches = (await Promise.all(queues.map((q) => selectedBatches(q, ctx)))).flat();
  const entries = [...letters.map(letterEntry), ...batches.map(batchEntry)].sort((a, b) => a.at.localeCompare(b.at));
  if (ctx.json) {
    ctx.out(`${JSON.stringify(entries, null, 2)}\n`);
    return;
  }
  ctx.out(table(['ID', 'KIND', 'SINK', 'SOURCE KEY', 'AT', 'ELEMENTS', 'REASON'],
    entries.map((e) => [e.id, e.kind, e.sink ?? '-', e.sourceKey, e.at, String(e.elements), e.reason.slice(0, 120)])));
  ctx.out(`${entries.length} dead letter(s)\n`);
}

/** At most this many letters per replayed batch, as many as one claim takes by default. */
const REPLAY_BATCH = 1000;

/**
 * Letters a sink refused go to that sink's retry queue, in batches with fresh ids, so the sinks that took
 * them are not written twice. They leave the hash once queued; a letter the sink refuses again comes back.
 */
async function replayIntoSinks(letters: DeadLetters, refused: readonly DeadLetter[], queues: readonly RetryQueue[], ctx: CommandContext): Promise<number> {
  const encodingOf = new Map(sourceKeysOf(ctx.config).map((k) => [k.name, k.encoding]));
  const groups = new Map<string, DeadLetter[]>();
  for (const letter of refused) {
    const key = `${letter.sink}\n${letter.sourceKey}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(letter);
  }
  let replayed = 0;
  for (const group of groups.values()) {
    const { sink, sourceKey } = group[0]!;
    const queue = queues.find((q) => q.sink === sink);
    if (!queue) {
      ctx.out(`${group.length} letter(s) of sink ${sink} kept: no such sink is configured\n`);
      continue;
    }
    for (let start = 0; start < group.length; start += REPLAY_BATCH) {
      const batch = group.slice(start, start + REPLAY_BATCH);
      const ids = batch.map((l) => l.id);
      await queue.add({
        sink: queue.sink, batchId: replayBatchId(ids, new Date()), sourceKey, encoding: encodingOf.get(sourceKey) ?? 'msgpack',
        elements: batch.map((l) => l.b64), firstError: `replayed dead letters; first refusal: ${batch[0]!.reason}`,
      });
      await letters.remove(ids);
      replayed += batch.length;
    }
  }
  return replayed;
}

/**
 * A letter that never decoded goes back to the end of its gateway list, so the worker claims, decodes and
 * writes it as any other element (a letter fixed in place is delivered); a letter a sink refused goes to
 * that sink alone (replayIntoSinks). A letter leaves the hash only once it is back in a list or queue. An
 * exhausted batch is retried in its queue with a fresh set of attempts.
 */
async function replay(redis: RedisClient, queues: RetryQueue[], ctx: CommandContext): Promise<void> {
  const letters = new DeadLetters(redis, ctx.config.sluice.dead_letter_key);
  const selected = await selectedLetters(letters, ctx);
  const undecoded = selected.filter((l) => l.sink === undefined);
  for (const letter of undecoded) {
    await redis.rpush(letter.sourceKey, Buffer.from(letter.b64, 'base64'));
    await letters.remove([letter.id]);
  }
  const intoSinks = await replayIntoSinks(letters, selected.filter((l) => l.sink !== undefined), queues, ctx);
  let batches = 0;
  for (const queue of queues) {
    for (const job of await selectedBatches(queue, ctx)) {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      batches += 1;
    }
  }
  const found = selected.length + batches;
  ctx.out(`replayed ${undecoded.length} letter(s) onto their gateway lists, ${intoSinks} into the retry queues of the sinks that refused them, `
    + `and ${batches} exhausted batch(es) into their retry queues\n`);
  if (ctx.ids.length > found) ctx.out(`${ctx.ids.length - found} id(s) not found\n`);
}

async function purge(redis: RedisClient, queues: RetryQueue[], ctx: CommandContext): Promise<void> {
  const ageMs = parseDuration(ctx.olderThan!);
  const cutoff = Date.now() - ageMs;
  const letters = new DeadLetters(redis, ctx.config.sluice.dead_letter_key);
  const old = (await selectedLetters(letters, ctx)).filter((l) => Date.parse(l.at) < cutoff);
  const removed = await letters.remove(old.map((l) => l.id));
  // BullMQ's clean removes failed jobs that finished more than `grace` ms ago; limit 0 means all of them.
  const cleaned = (await Promise.all(queues.map((q) => q.queue.clean(ageMs, 0, 'failed')))).flat().length;
  ctx.out(`purged ${removed} letter(s) and ${cleaned} exhausted batch(es) older than ${ctx.olderThan}\n`);
}

const SUBCOMMANDS = { list, replay, purge };

/** `sluice dlq list | replay | purge`: the dead letters and the batches that exhausted their retries. */
export async function dlqCommand(ctx: CommandContext): Promise<number> {
  const [sub] = ctx.args;
  const run = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub as keyof typeof SUBCOMMANDS] : undefined;
  if (!run) throw new UsageError(`dlq needs one of: ${Object.keys(SUBCOMMANDS).join(', ')}`);
  // Usage errors before any connection is made.
  if (sub === 'purge' && ctx.olderThan === undefined) throw new UsageError('dlq purge needs --older-than, e.g. --older-than 7d');
  if (sub === 'purge' && ctx.ids.length > 0) throw new UsageError('dlq purge selects by age (--older-than) and --sink, not by --id');
  if (ctx.olderThan !== undefined) parseDuration(ctx.olderThan);
  const redis = await connectRedis(ctx.config);
  try {
    const queues = await retryQueues(redis, ctx);
    try {
      await run(redis, queues, ctx);
    } finally {
      await closeQueues(queues);
    }
    return 0;
  } finally {
    await closeRedis(redis);
  }
}
