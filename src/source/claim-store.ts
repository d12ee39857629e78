import type { Cluster, Redis } from 'ioredis';
import { readAsset } from '../assets.js';
import { inflightIndexKey, inflightListKey } from './source-keys.js';
import { ReplicationGuard, UnreplicatedClaimError, type ReplicationState } from './replication-guard.js';

/** A claimed run of gateway elements, held in an in-flight list until every sink has them. */
export interface ClaimedBatch {
  readonly sourceKey: string;
  readonly inflightKey: string;
  readonly elements: Buffer[];
  /** True when this batch was taken over from a worker whose lease ran out. */
  readonly redelivered: boolean;
  /** True when the claim's byte limit, not its count or an empty list, ended the batch: more is waiting. */
  readonly cutByBytes: boolean;
}

type RedisClient = Redis | Cluster;

/** What the take-over script returns: the elements and the node's replication state. */
type ScriptTakeOver = [elements: Buffer[], replicas: number, replid: Buffer];

/** What the claim script returns: how many elements it moved, the node's replication state, and whether the byte limit cut the batch. */
type ScriptClaim = [count: number, replicas: number, replid: Buffer, cutByBytes: number];

/** The claim script with the read of its in-flight list behind it, sent together in one round trip. */
interface ClaimPipeline {
  sluiceClaimBuffer(source: string, inflight: string, index: string, max: number, leaseMs: number, maxBytes: number): ClaimPipeline;
  lrangeBuffer(key: string, start: number, stop: number): ClaimPipeline;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

interface ClaimCommands {
  sluiceUnclaim(source: string, inflight: string, index: string): Promise<number>;
  sluiceAck(index: string, inflight: string): Promise<number>;
  sluiceRenew(index: string, inflight: string, leaseMs: number): Promise<number>;
  sluiceRelease(index: string, inflight: string): Promise<number>;
  sluiceFindExpired(index: string, max: number): Promise<string[]>;
  sluiceTakeOverBuffer(index: string, orphan: string, inflight: string, leaseMs: number): Promise<ScriptTakeOver | null>;
}

/** Scripts that report the replication state start with the function that reads it. */
const WITH_REPLICATION_STATE = new Set(['claim.lua', 'take-over.lua']);

const SCRIPTS: Array<[name: string, file: string, keys: number]> = [
  ['sluiceClaim', 'claim.lua', 3],
  ['sluiceUnclaim', 'unclaim.lua', 3],
  ['sluiceAck', 'ack.lua', 2],
  ['sluiceRenew', 'renew.lua', 2],
  ['sluiceRelease', 'release.lua', 2],
  ['sluiceFindExpired', 'find-expired.lua', 1],
  ['sluiceTakeOver', 'take-over.lua', 3],
];

function scriptSource(file: string): string {
  const body = readAsset(import.meta.url, `lua/${file}`);
  return WITH_REPLICATION_STATE.has(file) ? `${readAsset(import.meta.url, 'lua/replication-state.lua')}\n${body}` : body;
}

/** A WAIT long enough for a healthy replica on any network, short against the lease it runs inside. */
function replicaWaitMs(leaseMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(leaseMs / 2)));
}

/**
 * The delivery protocol on Redis (DESIGN.md "Delivery"): claim, lease renewal, acknowledgement, hand-back
 * and take-over of orphans. Every step is one Lua script over keys of a single slot. Claims and take-overs
 * on a node with replicas are confirmed on a replica before they are handed out (replication-guard.ts).
 */
export class ClaimStore {
  private readonly redis: RedisClient & ClaimCommands;
  private readonly guard: ReplicationGuard;
  private seq = 0;

  constructor(redis: RedisClient, readonly workerId: string, readonly leaseMs: number) {
    for (const [name, file, numberOfKeys] of SCRIPTS) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua: scriptSource(file) });
    }
    this.redis = redis as RedisClient & ClaimCommands;
    this.guard = new ReplicationGuard(redis, replicaWaitMs(leaseMs));
  }

  private nextInflightKey(source: string): string {
    this.seq += 1;
    return inflightListKey(source, this.workerId, this.seq);
  }

  /**
   * Claims up to `max` elements of `source`, and no more than `maxBytes` of them unless the first alone is
   * larger (0: no byte limit). Throws UnreplicatedClaimError, after handing the elements
   * back, when the node has replicas and none confirmed the claim: nothing from it has been written yet,
   * so undoing it is always safe, while processing it could write twice after a failover.
   */
  async claim(source: string, max: number, maxBytes = 0): Promise<ClaimedBatch | null> {
    const inflightKey = this.nextInflightKey(source);
    const index = inflightIndexKey(source);
    const pinned = await this.guard.pin(source);
    const [[, replicas, replid, cut], elements] = await this.claimAndRead(source, inflightKey, index, max, maxBytes);
    if (elements.length === 0) return null;
    if (!(await this.guard.confirm(pinned, replicationState(replicas, replid)))) {
      await this.redis.sluiceUnclaim(source, inflightKey, index);
      throw new UnreplicatedClaimError(source, inflightKey);
    }
    return { sourceKey: source, inflightKey, elements, redelivered: false, cutByBytes: cut === 1 };
  }

  /**
   * The claim script keeps the elements inside Redis (claim.lua), so its in-flight list is read by an
   * LRANGE pipelined behind it on the same connection. Only a take-over of that list, which needs its
   * lease to have run out, could come between the two; the read then finds nothing and the batch is the
   * taker's.
   */
  private async claimAndRead(source: string, inflightKey: string, index: string, max: number, maxBytes: number): Promise<[ScriptClaim, Buffer[]]> {
    const pipeline = (this.redis.pipeline() as unknown as ClaimPipeline)
      .sluiceClaimBuffer(source, inflightKey, index, max, this.leaseMs, maxBytes)
      .lrangeBuffer(inflightKey, 0, -1);
    // A pipeline, unlike a MULTI that WATCH aborted, always has a reply per command.
    const [claim, read] = (await pipeline.exec())!;
    if (claim![0]) throw claim![0];
    if (read![0]) throw read![0];
    return [claim![1] as ScriptClaim, read![1] as Buffer[]];
  }

  async ack(batch: ClaimedBatch): Promise<void> {
    await this.redis.sluiceAck(inflightIndexKey(batch.sourceKey), batch.inflightKey);
  }

  /** Returns false when the lease was lost: another worker has taken the batch over. */
  async renew(batch: ClaimedBatch): Promise<boolean> {
    return (await this.redis.sluiceRenew(inflightIndexKey(batch.sourceKey), batch.inflightKey, this.leaseMs)) === 1;
  }

  async release(batch: ClaimedBatch): Promise<void> {
    await this.redis.sluiceRelease(inflightIndexKey(batch.sourceKey), batch.inflightKey);
  }

  /** True when `source` has an in-flight list whose lease has expired. */
  async hasOrphans(source: string): Promise<boolean> {
    return (await this.redis.sluiceFindExpired(inflightIndexKey(source), 1)).length > 0;
  }

  /**
   * Takes over up to `max` in-flight lists of `source` whose lease has expired. A take-over no replica
   * confirmed is released again, so it stays an orphan (the original claim may be unreplicated too).
   */
  async takeOrphans(source: string, max: number): Promise<ClaimedBatch[]> {
    const index = inflightIndexKey(source);
    const orphans = await this.redis.sluiceFindExpired(index, max);
    const taken: ClaimedBatch[] = [];
    for (const orphan of orphans) {
      const inflightKey = this.nextInflightKey(source);
      const pinned = await this.guard.pin(source);
      const reply = await this.redis.sluiceTakeOverBuffer(index, orphan, inflightKey, this.leaseMs);
      if (!reply) continue;
      const [elements, replicas, replid] = reply;
      const batch: ClaimedBatch = { sourceKey: source, inflightKey, elements, redelivered: true, cutByBytes: false };
      if (elements.length === 0) await this.ack(batch);
      else if (await this.guard.confirm(pinned, replicationState(replicas, replid))) taken.push(batch);
      else await this.release(batch);
    }
    return taken;
  }
}

function replicationState(replicas: number, replid: Buffer): ReplicationState {
  return { replicas, replid: replid.toString() };
}
