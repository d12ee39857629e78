import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ClaimStore } from '../../src/source/claim-store.js';
import { REDIS_URL, redisClient, uniquePrefix } from '../harness/redis.js';

/*
 * The claim script against a real Redis: the elements it moves (inside Redis, or through Lua where SORT is
 * refused), its byte limit, and what renew answers after a claim, an ack and a take-over.
 */

const redis = redisClient();
afterAll(() => redis.quit());

describe('ClaimStore leases', () => {
  it('a renewal right after the claim keeps the lease, even in the millisecond of the claim', async () => {
    const source = `${uniquePrefix('lease-now')}analytics`;
    const claims = new ClaimStore(redis, 'worker-a', 30_000);
    await redis.rpush(source, ...Array.from({ length: 50 }, (_, i) => `element-${i}`));
    const answers: boolean[] = [];
    for (let i = 0; i < 50; i++) {
      const batch = (await claims.claim(source, 1))!;
      // Sent back to back, the two usually run in the same millisecond: the deadline does not move.
      answers.push(await claims.renew(batch));
      await claims.ack(batch);
    }
    expect(answers.every(Boolean)).toBe(true);
  });

  it('after the ack, or once another worker took the batch over, renew says the lease is gone', async () => {
    const source = `${uniquePrefix('lease-lost')}analytics`;
    const owner = new ClaimStore(redis, 'worker-a', 50);
    const other = new ClaimStore(redis, 'worker-b', 30_000);
    await redis.rpush(source, 'one', 'two');
    const acked = (await owner.claim(source, 1))!;
    await owner.ack(acked);
    expect(await owner.renew(acked)).toBe(false);

    const orphan = (await owner.claim(source, 1))!;
    await new Promise((r) => setTimeout(r, 120));
    const [taken] = await other.takeOrphans(source, 1);
    expect(taken?.elements.map(String)).toEqual(['two']);
    expect(await owner.renew(orphan)).toBe(false);
    expect(await other.renew(taken!)).toBe(true);
    await other.ack(taken!);
  });
});

/** Elements SORT would reorder if it sorted: numbers out of order, and binary that is no number at all. */
function awkwardElements(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => (i % 3 === 0 ? Buffer.from(String(count - i)) : Buffer.from([i % 256, 0xff, 0x00, 0xc1, i >> 8])));
}

async function sortCalls(): Promise<number> {
  return Number(/cmdstat_sort:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
}

describe('ClaimStore claims', () => {
  it('moves the oldest elements inside Redis, in their order, byte for byte, and leaves the rest', async () => {
    const source = `${uniquePrefix('claim-order')}analytics`;
    const claims = new ClaimStore(redis, 'worker-a', 30_000);
    const elements = awkwardElements(1_500);
    await redis.rpush(source, ...elements);
    const sortsBefore = await sortCalls();
    const batch = (await claims.claim(source, 1_000, 64 * 1024 * 1024))!;
    expect(await sortCalls()).toBeGreaterThan(sortsBefore);
    expect(batch.elements).toEqual(elements.slice(0, 1_000));
    expect(batch.cutByBytes).toBe(false);
    expect(await redis.lrangeBuffer(batch.inflightKey, 0, -1)).toEqual(elements.slice(0, 1_000));
    expect(await redis.lrangeBuffer(source, 0, -1)).toEqual(elements.slice(1_000));
    await claims.ack(batch);
    await redis.del(source);
  });

  it('copies the elements through Lua, with the same result, for a user whose ACL refuses SORT', async () => {
    const user = `sluice-nosort-${process.pid}`;
    await redis.call('ACL', 'SETUSER', user, 'on', 'nopass', '~*', '&*', '+@all', '-sort');
    const limited = new Redis(REDIS_URL, { username: user, password: 'unused', lazyConnect: true });
    try {
      await limited.connect();
      await expect(limited.sort('any-key', 'BY', 'nosort')).rejects.toThrow(/NOPERM/);
      const source = `${uniquePrefix('claim-acl')}analytics`;
      const claims = new ClaimStore(limited, 'worker-a', 30_000);
      const elements = awkwardElements(20);
      await redis.rpush(source, ...elements);
      const batch = (await claims.claim(source, 15, 64 * 1024 * 1024))!;
      expect(batch.elements).toEqual(elements.slice(0, 15));
      expect(await redis.lrangeBuffer(source, 0, -1)).toEqual(elements.slice(15));
      await claims.ack(batch);
      await redis.del(source);
    } finally {
      limited.disconnect();
      await redis.call('ACL', 'DELUSER', user);
    }
  });

  it('reports the same batch again when the claim is resent under the same in-flight name, and claims no more', async () => {
    const source = `${uniquePrefix('claim-resent')}analytics`;
    new ClaimStore(redis, 'worker-a', 30_000); // defines the scripts on the connection
    const claim = (redis as unknown as Record<string, (...args: unknown[]) => Promise<[number, number, Buffer, number]>>).sluiceClaimBuffer!.bind(redis);
    const elements = awkwardElements(10);
    await redis.rpush(source, ...elements);
    const inflight = `{${source}}:resent`;
    const index = `{${source}}:index`;
    expect((await claim(source, inflight, index, 4, 30_000, 0))[0]).toBe(4);
    expect((await claim(source, inflight, index, 4, 30_000, 0))[0]).toBe(4);
    expect(await redis.lrangeBuffer(inflight, 0, -1)).toEqual(elements.slice(0, 4));
    expect(await redis.llen(source)).toBe(6);
    await redis.del(inflight, index, source);
  });
});

describe('ClaimStore byte limit', () => {
  const kb = (tag: string) => Buffer.alloc(1024, tag);

  it('takes the oldest elements while they fit, says it cut the batch, and leaves the rest in order', async () => {
    const source = `${uniquePrefix('claim-bytes')}analytics`;
    const claims = new ClaimStore(redis, 'worker-a', 30_000);
    await redis.rpush(source, kb('a'), kb('b'), kb('c'), kb('d'), kb('e'));
    const batch = (await claims.claim(source, 100, 3 * 1024 - 1))!;
    expect(batch.elements.map((e) => e.toString()[0])).toEqual(['a', 'b']);
    expect(batch.cutByBytes).toBe(true);
    expect(await redis.lrange(batch.inflightKey, 0, -1)).toEqual([kb('a').toString(), kb('b').toString()]);
    expect((await redis.lrange(source, 0, -1)).map((e) => e[0])).toEqual(['c', 'd', 'e']);
    await claims.ack(batch);

    const rest = (await claims.claim(source, 100, 3 * 1024))!;
    expect(rest.elements.map((e) => e.toString()[0])).toEqual(['c', 'd', 'e']);
    expect(rest.cutByBytes).toBe(false);
    expect(await redis.exists(source)).toBe(0);
    await claims.ack(rest);
  });

  it('takes an element larger than the limit alone, so it never blocks the list', async () => {
    const source = `${uniquePrefix('claim-big')}analytics`;
    const claims = new ClaimStore(redis, 'worker-a', 30_000);
    await redis.rpush(source, Buffer.alloc(10_000, 'x'), kb('y'));
    const big = (await claims.claim(source, 100, 1024))!;
    expect(big.elements.map((e) => e.length)).toEqual([10_000]);
    expect(big.cutByBytes).toBe(true);
    await claims.ack(big);
    const next = (await claims.claim(source, 100, 1024))!;
    expect(next.elements.map((e) => e.toString()[0])).toEqual(['y']);
    expect(next.cutByBytes).toBe(false);
    await claims.ack(next);
  });

  it('has no byte limit at 0, and the count still bounds the claim', async () => {
    const source = `${uniquePrefix('claim-count')}analytics`;
    const claims = new ClaimStore(redis, 'worker-a', 30_000);
    await redis.rpush(source, kb('a'), kb('b'), kb('c'));
    const batch = (await claims.claim(source, 2))!;
    expect(batch.elements).toHaveLength(2);
    expect(batch.cutByBytes).toBe(false);
    await claims.ack(batch);
    await claims.ack((await claims.claim(source, 2))!);
  });
});
