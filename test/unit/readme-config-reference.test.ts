import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README_PATH, readmeWithReference } from '../../scripts/config-reference.js';

describe('the README configuration reference', () => {
  it('is the one generated from config/pump.schema.json (run `npm run docs:config` after changing the schema)', () => {
    const readme = readFileSync(README_PATH, 'utf8');
    expect(readme).toBe(readmeWithReference(readme));
  });
});
