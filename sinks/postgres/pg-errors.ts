/*
 * Which PostgreSQL failures are worth retrying. SQLSTATE classes: 08 connection, 53 resources, 57
 * operator intervention (shutdown, cancel), 40 serialization/deadlock, 55P03 lock timeout. Data (22) and
 * integrity (23) errors concern the rows: retrying the same rows cannot help.
 */

const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** A rejection caused by a row's values: isolate the row, dead-letter it, write the rest. */
export function isRowRejection(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}

export function isTransientPgError(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined) return true; // socket errors, timeouts, pool exhaustion: no SQLSTATE at all
  // Two sessions creating the same table at once collide in the catalog: 23505 on pg_type or pg_class,
  // 42P07 (duplicate table) or 42710 (its row type already exists). The retry finds the table there.
  if (state === '23505' && /pg_type|pg_class/.test(String((err as Error).message))) return true;
  return TRANSIENT_CLASSES.has(state.slice(0, 2)) || state === '55P03' || state === '42P07' || state === '42710';
}
