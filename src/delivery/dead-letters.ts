import type { Cluster, Redis } from 'ioredis';

/** Why an element or batch could not be delivered. */
export type DeadLetterKind = 'undecodable' | 'rejected' | 'exhausted';

export interface DeadLetter {
  /** The record id (or batch id for an exhausted batch); re-adding the same letter overwrites it. */
  id: string;
  kind: DeadLetterKind;
  reason: string;
  sourceKey: string;
  /** The sink that refused it; absent for elements that never decoded. */
  sink?: string;
  /** When it was dead-lettered, RFC 3339. */
  at: string;
  /** The element exactly as the gateway wrote it, base64. */
  b64: string;
}

/**
 * Dead letters live in one Redis hash keyed by id: a redelivered batch dead-letters the same elements
 * under the same ids, so the set does not grow on redelivery.
 */
export class DeadLetters {
  constructor(private readonly redis: Redis | Cluster, readonly key: string) {}

  async add(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const fields = letters.flatMap((l) => [l.id, JSON.stringify(l)]);
    await this.redis.hset(this.key, ...fields);
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.key);
  }

  async list(): Promise<DeadLetter[]> {
    const all = await this.redis.hvals(this.key);
    return all.map((json) => JSON.parse(json) as DeadLetter).sort((a, b) => a.at.localeCompare(b.at));
  }

  async get(id: string): Promise<DeadLetter | null> {
    const json = await this.redis.hget(this.key, id);
    return json === null ? null : (JSON.parse(json) as DeadLetter);
  }

  async remove(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.redis.hdel(this.key, ...ids);
  }
}
