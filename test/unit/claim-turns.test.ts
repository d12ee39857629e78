import { describe, expect, it, vi } from 'vitest';
import { ClaimTurns } from '../../src/pipeline/claim-turns.js';

/* The order in which waiting claim loops get room, with room as a plain counter. */

describe('ClaimTurns', () => {
  it('gives room to the loops in the order they asked, whichever would have looked first', async () => {
    vi.useFakeTimers();
    try {
      const turns = new ClaimTurns();
      const signal = new AbortController().signal;
      let room = 0;
      const order: string[] = [];
      const reserveFor = (name: string) => () => {
        if (room === 0) return false;
        room -= 1;
        order.push(name);
        return true;
      };
      const first = turns.take(reserveFor('first'), signal);
      await vi.advanceTimersByTimeAsync(10);
      const second = turns.take(reserveFor('second'), signal);
      // Room frees up between the first loop's looks (every 25 ms from 0) and before the second's would
      // have come (from 10): a loop polling on its own would take it.
      await vi.advanceTimersByTimeAsync(20);
      room = 1;
      await vi.advanceTimersByTimeAsync(30);
      expect(order).toEqual(['first']);
      room = 1;
      await vi.advanceTimersByTimeAsync(30);
      expect(await Promise.all([first, second])).toEqual([true, true]);
      expect(order).toEqual(['first', 'second']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a loop that asks just as room frees up goes behind the ones already waiting', async () => {
    // What made one list run ahead: the loop whose claim had just come back found the freed slot at once.
    const turns = new ClaimTurns();
    const signal = new AbortController().signal;
    let room = 0;
    const order: string[] = [];
    const reserveFor = (name: string) => () => {
      if (room === 0) return false;
      room -= 1;
      order.push(name);
      return true;
    };
    const waiting = turns.take(reserveFor('waiting'), signal);
    await new Promise((r) => setTimeout(r, 5));
    room = 1;
    const arriving = turns.take(reserveFor('arriving'), signal);
    await Promise.race([waiting, new Promise((r) => setTimeout(r, 500))]);
    expect(order).toEqual(['waiting']);
    room = 1;
    expect(await arriving).toBe(true);
    expect(order).toEqual(['waiting', 'arriving']);
  });

  it('when the first in line stops waiting, the next one gets the room', async () => {
    const turns = new ClaimTurns();
    const stopping = new AbortController();
    let room = 0;
    const first = turns.take(() => false, stopping.signal);
    const second = turns.take(() => room > 0, new AbortController().signal);
    room = 1;
    stopping.abort();
    expect(await first).toBe(false);
    expect(await second).toBe(true);
  });

  it('answers false at once when already stopping, without asking for room', async () => {
    const turns = new ClaimTurns();
    const stopping = new AbortController();
    stopping.abort();
    let asked = 0;
    expect(await turns.take(() => ++asked > 0, stopping.signal)).toBe(false);
    expect(asked).toBe(0);
  });
});
