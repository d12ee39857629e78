import { afterAll, describe, expect, it } from 'vitest';
import { ClaimStore } from '../../src/source/claim-store.js';
import { redisClient, uniquePrefix } from '../harness/redis.js';

/* The lease of a claimed batch against a real Redis: what renew answers after a claim, an ack and a take-over. */

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
