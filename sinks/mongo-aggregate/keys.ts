/*
 * Dimension values become field names in the aggregate document (`apikeys.<key>.hits`). MongoDB reads a
 * `.` in a field path as nesting and refuses a field name that starts with `$`, so Tyk's one API key
 * `a.b$c` fails the update for its whole org (W15). Sluice escapes such keys, reversibly:
 *
 *   - a key that contains no `.` and starts with neither `$` nor `%` is written unchanged (as Tyk does);
 *   - any other key is written as `%` followed by the key with every `%`, `.` and `$` percent-encoded
 *     (`%25`, `%2E`, `%24`): `a.b$c` → `%a%2Eb%24c`, `$set` → `%%24set`, `%x` → `%%25x`.
 *
 * Unescaped keys never start with `%` and escaped keys always do, so decoding is unambiguous: strip the
 * leading `%` and percent-decode. The counter inside still carries the original value as `identifier`.
 */

const NEEDS_ESCAPE = /\.|^\$|^%/;
const SPECIAL = /[%.$]/g;
const ENCODED = /%(25|2E|24)/g;
const DECODED: Record<string, string> = { '25': '%', '2E': '.', '24': '$' };

export function escapeKey(key: string): string {
  if (!NEEDS_ESCAPE.test(key)) return key;
  return `%${key.replace(SPECIAL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

export function unescapeKey(field: string): string {
  if (!field.startsWith('%')) return field;
  return field.slice(1).replace(ENCODED, (_, hex: string) => DECODED[hex]!);
}

/**
 * The entry into which a document's excess dimension entries are folded once it reaches its size budget.
 * No key escapes to it: it starts with `%`, yet `other` itself needs no escaping.
 */
export const OTHER_KEY = '%other';
