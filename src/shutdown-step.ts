import type { Logger } from './log/logger.js';

/** How long a shutdown step may take before the log says the stop is waiting for it. */
const STEP_WARN_AFTER_MS = 10_000;

/**
 * Awaits one step of a graceful stop, logging a warning every STEP_WARN_AFTER_MS while it is pending, so a
 * stop that hangs (a connection that never answers its close) names the step it hangs on. The step is never
 * abandoned: everything claimed is still in Redis, but only the step itself knows when it is safe to end.
 */
export async function shutdownStep<T>(logger: Logger, step: string, pending: Promise<T>): Promise<T> {
  const startedAt = Date.now();
  const timer = setInterval(() => {
    logger.warn({ step, waitingMs: Date.now() - startedAt }, 'shutdown still waiting');
  }, STEP_WARN_AFTER_MS);
  try {
    return await pending;
  } finally {
    clearInterval(timer);
  }
}
