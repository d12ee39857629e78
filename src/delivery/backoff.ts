import { SluiceError } from '../errors.js';

/** Work abandoned because the process is shutting down; the batch is handed back to Redis, not lost. */
export class ShutdownError extends SluiceError {
  constructor(what: string) {
    super('shutting_down', `${what}: abandoned for shutdown`);
  }
}

/** Exponential backoff with full jitter, so workers that failed together do not retry together. */
export function backoffDelay(attempt: number, baseMs: number, maxMs = 30_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Waits `ms`, or less if `signal` aborts first; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
