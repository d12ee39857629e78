/*
 * A pump's `meta` arrives as a plain object: from pump.conf JSON, or from TYK_PMP_* variables where every
 * value is a string. These readers accept both spellings and fall back to Tyk's default for a missing or
 * unreadable key, so a sink never trusts the shape of what it was given.
 */

export type Meta = Readonly<Record<string, unknown>>;

export function metaString(meta: Meta, key: string, fallback = ''): string {
  const value = meta[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return fallback;
}

export function metaNumber(meta: Meta, key: string, fallback = 0): number {
  const value = meta[key];
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof parsed === 'number' && Number.isFinite(parsed) ? parsed : fallback;
}

export function metaBool(meta: Meta, key: string, fallback = false): boolean {
  const value = meta[key];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return ['true', '1', 't', 'yes'].includes(value.trim().toLowerCase());
  if (typeof value === 'number') return value !== 0;
  return fallback;
}

/** A list given as a JSON array or, from an environment variable, as comma-separated text. */
export function metaStrings(meta: Meta, key: string): string[] {
  const value = meta[key];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  return [];
}
