/*
 * Claim loops take turns at the pipeline's room. Without turns, the loop whose claim had just come back
 * found a freed slot before the loops polling for one, so one list could run many batches ahead of the
 * others (README, "What made the difference"). Gateways spread their records over their lists, so the
 * lists of a backlog hold about the same stretch of time: claimed in turn, the batches prepared and folded
 * together cover the same minutes, and an aggregate fold merges them into fewer rows. It is also what a
 * user expects of a backlog: every list drains at the same pace.
 */

/**
 * How often the loop whose turn it is asks again. The pipeline says when a batch frees room (roomFreed);
 * a sink's queue and heap budget also free up inside the sink, which only this poll notices.
 */
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
        const myTurn = this.queue[0] === me;
        if (myTurn && tryReserve()) return true;
        await this.wait(me, signal, myTurn);
      }
    } finally {
      this.queue.splice(this.queue.indexOf(me), 1);
      // The next loop's turn: it looks at once, as the room just taken may not have been the last.
      this.queue[0]?.wake();
    }
  }

  /** Room may have freed up: the loop whose turn it is looks at once. */
  roomFreed(): void {
    this.queue[0]?.wake();
  }

  /** Until woken or aborted; the loop whose turn it is also looks again every POLL_MS. */
  private wait(me: Waiter, signal: AbortSignal, polls: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = polls ? setTimeout(done, POLL_MS) : undefined;
      me.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
