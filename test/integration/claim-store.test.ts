import { afterAll, describe, expect, it } from 'vitest';
import { ClaimStore } from '../../src/source/claim-store.js';
import { redisClient, uniquePrefix } from '../harness/redis.js';

/*
 * The claim script against a real Redis: its byte limit, and what renew answers after a claim, an ack and a
 * take-over.
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
