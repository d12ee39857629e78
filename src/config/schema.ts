import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../assets.js';

/** A node of config/pump.schema.json, with the two annotations Sluice adds. */
export interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  default?: unknown;
  description?: string;
  enum?: unknown[];
  required?: string[];
  /** Tyk's environment name for the key when it is not the key without underscores, upper-cased. */
  'x-env'?: string;
  /** Never logged or printed. */
  'x-secret'?: boolean;
  /** A default that depends on the machine, resolved when the configuration is loaded; how, in words. */
  'x-computed-default'?: string;
  $defs?: Record<string, SchemaNode>;
  [keyword: string]: unknown;
}

export const SCHEMA_PATH = join(packageRoot(), 'config', 'pump.schema.json');

export const configSchema: SchemaNode = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as SchemaNode;

/** The pump types Sluice implements, each with the schema of its `meta`. */
export const PUMP_META_SCHEMAS: Record<string, SchemaNode> = Object.fromEntries(
  Object.entries(configSchema.$defs ?? {})
    .filter(([name]) => name.startsWith('meta_'))
    .map(([name, node]) => [name.slice('meta_'.length), node]),
);

export const SUPPORTED_PUMP_TYPES = Object.keys(PUMP_META_SCHEMAS);

/** Tyk's environment-name segment for a key: its Go field name upper-cased. */
export function envSegment(key: string, node: SchemaNode): string {
  return node['x-env'] ?? key.replaceAll('_', '').toUpperCase();
}
