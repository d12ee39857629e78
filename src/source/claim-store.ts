import type { Cluster, Redis } from 'ioredis';
import { readAsset } from '../assets.js';
import { inflightIndexKey, inflightListKey } from './source-keys.js';

/** A claimed run of gateway elements, held in an in-flight list until every sink has them. */
export interface ClaimedBatch {
  readonly sourceKey: string;
  readonly inflightKey: string;
  readonly elements: Buffer[];
  /** True when this batch was taken over from a worker whose lease ran out. */
  readonly redelivered: boolean;
}

type RedisClient = Redis | Cluster;

interface ClaimCommands {
  sluiceClaimBuffer(source: string, inflight: string, index: string, max: number, leaseMs: number): Promise<Buffer[]>;
  sluiceAck(index: string, inflight: string): Promise<number>;
  sluiceRenew(index: string, inflight: string, leaseMs: number): Promise<number>;
  sluiceRelease(index: string, inflight: string): Promise<number>;
  sluiceFindExpired(index: string, max: number): Promise<string[]>;
  sluiceTakeOverBuffer(index: string, orphan: string, inflight: string, leaseMs: number): Promise<Buffer[] | null>;
}

const SCRIPTS: Array<[name: string, file: string, keys: number]> = [
  ['sluiceClaim', 'claim.lua', 3],
  ['sluiceAck', 'ack.lua', 2],
  ['sluiceRenew', 'renew.lua', 2],
  ['sluiceRelease', 'release.lua', 2],
  ['sluiceFindExpired', 'find-expired.lua', 1],
  ['sluiceTakeOver', 'take-over.lua', 3],
];

/**
 * The delivery protocol on Redis (DESIGN.md "Delivery"): claim, lease renewal, acknowledgement, hand-back
 * and take-over of orphans. Every step is one Lua script over keys of a single slot.
 */
export class ClaimStore {
  private readonly redis: RedisClient & ClaimCommands;
  private seq = 0;

  constructor(redis: RedisClient, readonly workerId: string, readonly leaseMs: number) {
    for (const [name, file, numberOfKeys] of SCRIPTS) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua: readAsset(import.meta.url, `lua/${file}`) });
    }
    this.redis = redis as RedisClient & ClaimCommands;
  }

  private nextInflightKey(source: string): string {
    this.seq += 1;
    return inflightListKey(source, this.workerId, this.seq);
  }

  async claim(source: string, max: number): Promise<ClaimedBatch | null> {
    const inflightKey = this.nextInflightKey(source);
    const elements = await this.redis.sluiceClaimBuffer(source, inflightKey, inflightIndexKey(source), max, this.leaseMs);
    if (elements.length === 0) return null;
    return { sourceKey: source, inflightKey, elements, redelivered: false };
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

  /** Takes over up to `max` in-flight lists of `source` whose lease has expired. */
  async takeOrphans(source: string, max: number): Promise<ClaimedBatch[]> {
    const index = inflightIndexKey(source);
    const orphans = await this.redis.sluiceFindExpired(index, max);
    const taken: ClaimedBatch[] = [];
    for (const orphan of orphans) {
      const inflightKey = this.nextInflightKey(source);
      const elements = await this.redis.sluiceTakeOverBuffer(index, orphan, inflightKey, this.leaseMs);
      if (elements && elements.length > 0) taken.push({ sourceKey: source, inflightKey, elements, redelivered: true });
      else if (elements) await this.ack({ sourceKey: source, inflightKey, elements: [], redelivered: true });
    }
    return taken;
  }
}
