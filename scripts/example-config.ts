/*
 * config/pump.example.conf: a Tyk pump.conf with every key Sluice supports at its default, one pump of
 * each implemented type, generated from config/pump.schema.json (`npm run docs:config`) so that it cannot
 * drift from what the loader accepts. A test checks it is current and valid.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema, PUMP_META_SCHEMAS, type SchemaNode } from '../src/config/schema.js';
import { packageRoot } from '../src/assets.js';

export const EXAMPLE_PATH = join(packageRoot(), 'config', 'pump.example.conf');

/** Values for keys without a default, so the example is a working configuration. */
const PLACEHOLDERS: Record<string, unknown> = {
  type: 'postgres',
  connection_string: 'host=127.0.0.1 port=5432 dbname=tyk_analytics user=tyk password=change-me',
  mongo_url: 'mongodb://127.0.0.1:27017/tyk_analytics',
  collection_name: 'tyk_analytics',
};

function defaults(node: SchemaNode): Record<string, unknown> {
  return Object.fromEntries(Object.entries(node.properties ?? {}).flatMap(([key, child]): Array<[string, unknown]> => {
    if (child.properties) return [[key, defaults(child)]];
    if (child.default !== undefined) return [[key, child.default]];
    return key in PLACEHOLDERS ? [[key, PLACEHOLDERS[key]]] : [];
  }));
}

export function exampleConfig(): Record<string, unknown> {
  const top = defaults(configSchema);
  const pumpNode = configSchema.properties!.pumps!.additionalProperties as SchemaNode;
  const pumpDefaults = defaults({ properties: Object.fromEntries(Object.entries(pumpNode.properties!).filter(([k]) => k !== 'meta')) });
  const pumps = Object.fromEntries(Object.entries(PUMP_META_SCHEMAS).map(([type, meta]) => [
    type.replaceAll('-', '').replaceAll('_', ''),
    { ...pumpDefaults, type, meta: defaults(meta) },
  ]));
  const uptime = { ...defaults(configSchema.properties!.uptime_pump_config!), uptime_type: 'sql', type: 'postgres', connection_string: PLACEHOLDERS.connection_string };
  return { ...top, uptime_pump_config: uptime, pumps };
}

export function exampleConfigText(): string {
  return `${JSON.stringify(exampleConfig(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(EXAMPLE_PATH, exampleConfigText());
}
