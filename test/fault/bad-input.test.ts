import { describe, expect, it } from 'vitest';
import { leftoverKeys, msgpackKeys, pushRoundRobin } from '../harness/redis.js';
import { freePort, sqlPumpConfig, startSluice, waitFor, writeConfig } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import type { DeadLetter } from '../../src/delivery/dead-letters.js';
import { fileServices } from '../harness/file-services.js';

/** Elements no gateway could have written, each certain not to decode. */
function garbage(count: number): Buffer[] {
  const good = distinctRecords('garbage-base', 1)[0]!;
  return Array.from({ length: count }, (_, i) => {
    switch (i % 4) {
      case 0: return Buffer.from(`not msgpack ${i}`);
      case 1: return good.subarray(0, 20 + (i % 50));
      case 2: return Buffer.from('81ac526573706f6e7365436f6465a3323030', 'hex'); // ResponseCode as a string
      default: return Buffer.concat([good, Buffer.from([i % 256])]);
    }
  });
}

describe('bad input is dead-lettered and loses nothing else', () => {
  const services = fileServices('bad');
  const { prefix, deadLetterKey } = services;

  it('writes the 1,000 good records and keeps the 100 bad ones with their reasons', async () => {
    const good = distinctRecords('good', 1000);
    const bad = garbage(100);
    const mixed = good.flatMap((g, i) => (i % 10 === 0 ? [bad[i / 10]!, g] : [g]));
    await pushRoundRobin(services.redis, msgpackKeys(prefix), mixed);
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: services.db.url, port: await freePort(), sluice: { dead_letter_key: deadLetterKey } }));
    const sluice = startSluice(['--conf', config]);
    try {
      await waitFor(async () => (await leftoverKeys(services.redis, prefix)).length === 0, 30_000, 'lists drained');
      await waitFor(async () => (await services.redis.hlen(deadLetterKey)) === 100, 10_000, '100 dead letters');
      expect(sluice.proc.exitCode).toBeNull();
    } finally {
      sluice.kill('SIGTERM');
    }
    expect(await sluice.exited).toBe(0);
    const rows = await services.db.pool.query('SELECT count(*)::int AS n, count(DISTINCT path)::int AS d FROM tyk_analytics');
    expect(rows.rows[0]).toEqual({ n: 1000, d: 1000 });
    const letters = (await services.redis.hvals(deadLetterKey)).map((j) => JSON.parse(j) as DeadLetter);
    expect(letters.every((l) => l.kind === 'undecodable' && l.reason.length > 0 && l.sourceKey.startsWith(prefix))).toBe(true);
    expect(letters.some((l) => /ResponseCode: expected an integer/.test(l.reason))).toBe(true);
    const stored = new Set(letters.map((l) => l.b64));
    expect(bad.every((b) => stored.has(b.toString('base64')))).toBe(true);
  });
});
