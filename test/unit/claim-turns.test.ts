import { describe, expect, it, vi } from 'vitest';
import { ClaimTurns } from '../../src/pipeline/claim-turns.js';

/* The order in which waiting claim loops get room, with room as a plain counter. */

/** Slots to hand out, and the order loops reserved them in. */
class Room {
  free = 0;
  readonly order: string[] = [];
  /** A loop's check-and-reserve, as the pipeline gives ClaimTurns. */
  reserveFor(name: string): () => boolean {
    return () => {
      if (this.free === 0) return false;
      this.free -= 1;
      this.order.push(name);
      return true;
    };
  }
}

describe('ClaimTurns', () => {
  it('gives room to the loops in the order they asked, whichever would have looked first', async () => {
    vi.useFakeTimers();
    try {
      const turns = new ClaimTurns();
      const signal = new AbortController().signal;
      const room = new Room();
      const first = turns.take(room.reserveFor('first'), signal);
      await vi.advanceTimersByTimeAsync(10);
      const second = turns.take(room.reserveFor('second'), signal);
      // Room frees up between the first loop's looks (every 25 ms from 0) and before the second's would
      // have come (from 10): a loop polling on its own would take it.
      await vi.advanceTimersByTimeAsync(20);
      room.free = 1;
      await vi.advanceTimersByTimeAsync(30);
      expect(room.order).toEqual(['first']);
      room.free = 1;
      await vi.advanceTimersByTimeAsync(30);
      expect(await Promise.all([first, second])).toEqual([true, true]);
      expect(room.order).toEqual(['first', 'second']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('the loop whose turn it is looks at once when told room freed up, not at its next poll', async () => {
    vi.useFakeTimers();
    try {
      const turns = new ClaimTurns();
      const room = new Room();
      const first = turns.take(room.reserveFor('first'), new AbortController().signal);
      await vi.advanceTimersByTimeAsync(1);
      room.free = 1;
      turns.roomFreed();
      // Microtasks only: no timer has fired since the first look, so only the wake-up can have reserved.
      await vi.advanceTimersByTimeAsync(0);
      expect(room.order).toEqual(['first']);
      expect(await first).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a loop that asks just as room frees up goes behind the ones already waiting', async () => {
    // What made one list run ahead: the loop whose claim had just come back found the freed slot at once.
    const turns = new ClaimTurns();
    const signal = new AbortController().signal;
    const room = new Room();
    const waiting = turns.take(room.reserveFor('waiting'), signal);
    await new Promise((r) => setTimeout(r, 5));
    room.free = 1;
    const arriving = turns.take(room.reserveFor('arriving'), signal);
    await Promise.race([waiting, new Promise((r) => setTimeout(r, 500))]);
    expect(room.order).toEqual(['waiting']);
    room.free = 1;
    expect(await arriving).toBe(true);
    expect(room.order).toEqual(['waiting', 'arriving']);
  });

  it('when the first in line stops waiting, the next one gets the room', async () => {
    const turns = new ClaimTurns();
    const stopping = new AbortController();
    const room = new Room();
    const first = turns.take(room.reserveFor('first'), stopping.signal);
    const second = turns.take(room.reserveFor('second'), new AbortController().signal);
    stopping.abort();
    room.free = 1;
    expect(await first).toBe(false);
    expect(await second).toBe(true);
    expect(room.order).toEqual(['second']);
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
