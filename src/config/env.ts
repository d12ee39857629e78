import { envSegment, type SchemaNode } from './schema.js';
import type { ConfigProblem } from './config-error.js';

/*
 * TYK_PMP_* variables, named as Tyk Pump names them (reference §2.9): the Go field names upper-cased,
 * nested structs joined by `_`. Values are parsed by the type the schema gives the key.
 */

export type Env = Readonly<Record<string, string | undefined>>;
export type JsonObject = Record<string, unknown>;

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function primaryType(node: SchemaNode): string {
  return Array.isArray(node.type) ? node.type[0]! : node.type ?? 'string';
}

function parseScalar(text: string, type: string, variable: string, problems: ConfigProblem[]): unknown {
  if (type === 'integer' || type === 'number') {
    const value = Number(text);
    const ok = text.trim() !== '' && Number.isFinite(value) && (type === 'number' || Number.isInteger(value));
    if (ok) return value;
    problems.push({ path: variable, message: `expected ${type === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(text)}` });
    return undefined;
  }
  if (type === 'boolean') {
    if (TRUE.has(text)) return true;
    if (FALSE.has(text)) return false;
    problems.push({ path: variable, message: `expected true or false, got ${JSON.stringify(text)}` });
    return undefined;
  }
  return text;
}

export function parseEnvValue(text: string, node: SchemaNode, variable: string, problems: ConfigProblem[]): unknown {
  const type = primaryType(node);
  if (type === 'array') {
    const itemType = primaryType(node.items ?? {});
    const problemsBefore = problems.length;
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
      .map((item) => parseScalar(item, itemType, variable, problems));
    // A bad item is reported against the variable; keeping the list would report it again under the key.
    return problems.length > problemsBefore ? undefined : items;
  }
  if (type === 'object') {
    // Go envconfig's map syntax: key:value,key2:value2
    return Object.fromEntries(text.split(',').filter((p) => p.includes(':')).map((p) => {
      const at = p.indexOf(':');
      return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
    }));
  }
  return parseScalar(text, type, variable, problems);
}

function childObject(target: JsonObject, key: string): JsonObject {
  const existing = target[key];
  if (existing !== null && typeof existing === 'object' && !Array.isArray(existing)) return existing as JsonObject;
  const created: JsonObject = {};
  target[key] = created;
  return created;
}

/**
 * Overrides `target` (a part of the file config described by `node`) from variables `<prefix>_<FIELD>`.
 * Nested objects recurse with their own segment, except maps (free-form objects), which are values.
 */
export function applyEnv(target: JsonObject, node: SchemaNode, prefix: string, env: Env, problems: ConfigProblem[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const name = `${prefix}_${envSegment(key, child)}`;
    if (child.properties && primaryType(child) === 'object') {
      if (Object.keys(env).some((v) => v.startsWith(`${name}_`))) applyEnv(childObject(target, key), child, name, env, problems);
      continue;
    }
    const text = env[name];
    if (text === undefined) continue;
    const value = parseEnvValue(text, child, name, problems);
    if (value !== undefined) target[key] = value;
  }
}
