/*
 * Reading a pump's `meta` (or uptime_pump_config), a plain object from pump.conf and TYK_PMP_* variables,
 * defensively: a missing or malformed value takes Tyk's default; environment values may arrive as text.
 */

export type Meta = Readonly<Record<string, unknown>>;

export function metaBoolean(meta: Meta, key: string, fallback = false): boolean {
  const value = meta[key];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.trim().toLowerCase() === 'true';
  return fallback;
}

/** A positive integer, or the fallback (Tyk treats 0 as "use the default"). */
export function metaPositiveInteger(meta: Meta, key: string, fallback: number): number {
  const value = typeof meta[key] === 'string' ? Number(meta[key]) : meta[key];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;
}

export function metaString(meta: Meta, key: string, fallback = ''): string {
  const value = meta[key];
  return typeof value === 'string' ? value : fallback;
}

/** A list of strings; a comma-separated string (as environment variables carry lists) is split. */
export function metaStringList(meta: Meta, key: string): string[] {
  const value = meta[key];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  return [];
}
