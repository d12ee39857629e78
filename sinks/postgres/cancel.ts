import type { Pool, PoolClient } from 'pg';

/**
 * While `signal` is not aborted, an abort cancels the statement `client` is running, on the server
 * (pg_cancel_backend): without that, a statement given up on goes on in the background. Returns the
 * function that stops listening. The cancel itself is best effort: when it cannot be sent, the statement
 * was ending or the server is gone, and the caller learns that from its own statement.
 */
export function cancelOnAbort(pool: Pool, client: PoolClient, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  const cancel = () => {
    pool.query('SELECT pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID]).catch(() => undefined);
  };
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}
