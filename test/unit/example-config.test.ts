import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_PATH, exampleConfigText } from '../../scripts/example-config.js';
import { loadConfig } from '../../src/config/load.js';
import { SUPPORTED_PUMP_TYPES } from '../../src/config/schema.js';

describe('config/pump.example.conf', () => {
  it('is the one generated from the schema (run `npm run docs:config` after changing the schema)', () => {
    expect(readFileSync(EXAMPLE_PATH, 'utf8')).toBe(exampleConfigText());
  });

  it('is a valid configuration with one pump of every implemented type', () => {
    const { config } = loadConfig({ path: EXAMPLE_PATH, env: {} });
    expect(config.pumps.map((p) => p.type).sort()).toEqual([...SUPPORTED_PUMP_TYPES].sort());
    expect(config.purge_chunk).toBe(0);
    expect(config.health_check_endpoint_port).toBe(8083);
  });
});
