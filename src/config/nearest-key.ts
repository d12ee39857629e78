import type { SchemaNode } from './schema.js';

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The valid key most like `key`, if one is close enough to be a likely typo. */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of valid) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Every place in the schema where `key` is a valid property, as path templates (for misplaced keys). */
export function placesOf(key: string, node: SchemaNode, path = '', depth = 0): string[] {
  if (depth > 6) return [];
  const here = node.properties && key in node.properties ? [path ? `${path}.${key}` : key] : [];
  const nested = Object.entries(node.properties ?? {}).flatMap(([name, child]) =>
    placesOf(key, child, path ? `${path}.${name}` : name, depth + 1));
  const additional = typeof node.additionalProperties === 'object'
    ? placesOf(key, node.additionalProperties, `${path}.<name>`, depth + 1) : [];
  return [...here, ...nested, ...additional];
}
