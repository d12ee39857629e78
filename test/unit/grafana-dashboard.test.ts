import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/metrics.js';
import { packageRoot } from '../../src/assets.js';

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(packageRoot(), 'config', 'grafana-dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };

  it('queries only series Sluice exports', async () => {
    const exported = new Set((await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/sluice_[a-z_]+/g) ?? []));
    const unknown = used
      .map((name) => name.replace(/_(bucket|sum|count)$/, ''))
      .filter((name) => !exported.has(name));
    expect(used.length).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });
});
