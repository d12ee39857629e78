/*
 * Claim loops take turns at the pipeline's room. Without turns, the loop whose claim just came back finds
 * a freed slot before the loops that poll for one, so one list can run many batches ahead of the others:
 * in a per-minute aggregate benchmark, 10 of the first 20 claims came from one of 11 lists, and the lists
 * drifted up to 16 batches apart. A gateway spreads its records over its lists, so a backlog's lists hold
 * the same stretch of time: claimed in turn, the batches prepared and folded together cover the same
 * minutes, and an aggregate fold merges them into fewer rows (about 0.44 rows per record against 1.45
 * for batches from different stretches, in the benchmark's traffic). It is also what a user expects of a
 * backlog: every list drains at the same pace, none waits for the others to empty.
 */

/** How often the loop whose turn it is asks again: the room it waits for frees up without telling anyone. */
const POLL_MS = 25;

interface Waiter {
  wake: () => void;
}

export class ClaimTurns {
  /** Loops waiting, in the order they asked; the first one's turn it is. */
  private readonly queue: Waiter[] = [];

  /**
   * Waits for the caller's turn, then until `tryReserve` reserves room for it (the check and the
   * reservation in one synchronous step, so that no other loop passes the check in between). Resolves
   * true once reserved, false when `signal` aborts first; never rejects.
   */
  async take(tryReserve: () => boolean, signal: AbortSignal): Promise<boolean> {
    const me: Waiter = { wake: () => {} };
    this.queue.push(me);
    try {
      for (;;) {
        if (signal.aborted) return false;
        if (this.queue[0] === me && tryReserve()) return true;
        await this.wait(me, signal);
      }
    } finally {
      this.queue.splice(this.queue.indexOf(me), 1);
      // The next loop need not wait for its poll: the room just taken may not have been the last.
      this.queue[0]?.wake();
    }
  }

  private wait(me: Waiter, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      me.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
