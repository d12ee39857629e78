import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { leftoverKeys, msgpackKeys, pushRoundRobin } from '../harness/redis.js';
import { freePort, runSluice, sqlPumpConfig, startSluice, waitFor, writeConfig, whileRunning } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import type { DeadLetter } from '../../src/delivery/dead-letters.js';
import { cliJson, rowCount, rowsAndDistinctPaths, uniqueSqlPump } from './delivery-helpers.js';
import { fileServices } from '../harness/file-services.js';

/*
 * Poison in the gateway lists: 1,000 elements that cannot decode (random bytes, truncated msgpack, maps
 * whose fields have the wrong types) among 10,000 good records. The good ones land, the bad ones become
 * dead letters with their reasons; an operator fixes one letter in place and `sluice dlq replay --id`
 * delivers it and removes it.
 */

const GOOD = 10_000;
const BAD = 1_000;

/** Plain msgpack maps, as Go writes structs (no msgpackr record extension). */
const packr = new Packr({ useRecords: false });

/** Distinct elements that cannot decode: every one differs, so each keeps its own dead letter. */
function poison(count: number): Buffer[] {
  const truncatable = distinctRecords('poison', count);
  return Array.from({ length: count }, (_, i) => {
    switch (i % 3) {
      // 0xc1 is the one byte msgpack never uses, so no run of random bytes happens to be a valid map.
      case 0: return Buffer.concat([Buffer.from([0xc1]), randomBytes(16 + (i % 48))]);
      // Cut inside the record's last field: the path that makes it distinct comes earlier.
      case 1: return truncatable[i]!.subarray(0, truncatable[i]!.length - 3);
      default: return packr.pack({ Method: 'GET', Path: `/confused/${i}`, ResponseCode: `${i}`, APIID: i });
    }
  });
}

describe('poison elements are dead-lettered; a fixed letter replays', () => {
  const services = fileServices('poison');
  const { prefix, deadLetterKey } = services;

  it(`writes ${GOOD} rows, keeps ${BAD} letters with reasons, and replays a fixed one`, { timeout: 180_000 }, async () => {
    const good = distinctRecords('good', GOOD);
    const bad = poison(BAD);
    expect(new Set(bad.map((b) => b.toString('base64'))).size).toBe(BAD);
    const mixed = good.flatMap((g, i) => (i % 10 === 0 ? [bad[i / 10]!, g] : [g]));
    await pushRoundRobin(services.redis, msgpackKeys(prefix), mixed);
    const { pumps } = uniqueSqlPump('poison', services.db.url);
    const config = writeConfig(sqlPumpConfig({ prefix, pgUrl: services.db.url, port: await freePort(), extra: { pumps }, sluice: { dead_letter_key: deadLetterKey } }));
    const sluice = startSluice(['--conf', config]);
    let letters: DeadLetter[];
    expect(await whileRunning(sluice, async () => {
      await waitFor(async () => (await leftoverKeys(services.redis, prefix)).length === 0, 90_000, 'lists drained');
      await waitFor(async () => (await services.redis.hlen(deadLetterKey)) === BAD, 20_000, `${BAD} dead letters`);
      await waitFor(async () => (await rowCount(services.db)) >= GOOD, 20_000, `${GOOD} rows`);
      expect(await rowsAndDistinctPaths(services.db)).toEqual({ n: GOOD, d: GOOD });

      letters = (await services.redis.hvals(deadLetterKey)).map((j) => JSON.parse(j) as DeadLetter);
      expect(letters.every((l) => l.kind === 'undecodable' && l.reason.length > 0 && l.sourceKey.startsWith(prefix))).toBe(true);
      const stored = new Set(letters.map((l) => l.b64));
      expect(bad.every((b) => stored.has(b.toString('base64')))).toBe(true);
      const listed = await cliJson<Array<{ id: string; kind: string; reason: string }>>(['dlq', 'list', '--json', '--conf', config]);
      expect(listed).toHaveLength(BAD);
      const reasons = new Map<string, number>();
      for (const l of letters) reasons.set(l.reason.replace(/\d+/g, 'N').slice(0, 60), (reasons.get(l.reason.replace(/\d+/g, 'N').slice(0, 60)) ?? 0) + 1);
      console.log(`${letters.length} dead letters; reasons: ${[...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([r, n]) => `${n}× ${r}`).join(' | ')}`);

      // The operator's fix: the letter's bytes replaced by a record that decodes.
      const fixed = { ...letters[0]!, b64: distinctRecords('fixed', 1)[0]!.toString('base64') };
      await services.redis.hset(deadLetterKey, fixed.id, JSON.stringify(fixed));
      const replay = await runSluice(['dlq', 'replay', '--id', fixed.id, '--conf', config]);
      console.log(replay.output.split('\n').filter((l) => !l.startsWith('{')).join('\n'));
      expect(replay.code).toBe(0);
      await waitFor(async () => (await rowCount(services.db)) === GOOD + 1, 30_000, 'the replayed record');
      expect(await services.redis.hexists(deadLetterKey, fixed.id)).toBe(0);
      expect(await services.redis.hlen(deadLetterKey)).toBe(BAD - 1);
      const row = await services.db.pool.query(`SELECT count(*)::int AS n FROM tyk_analytics WHERE path = '/fixed/0'`);
      expect(row.rows[0].n).toBe(1);

      // Nothing is younger than an hour's cutoff; everything is older than a second's.
      const keep = await runSluice(['dlq', 'purge', '--older-than', '1h', '--conf', config]);
      expect(keep.code).toBe(0);
      expect(await services.redis.hlen(deadLetterKey)).toBe(BAD - 1);
      await new Promise((r) => setTimeout(r, 1_100));
      const purge = await runSluice(['dlq', 'purge', '--older-than', '1s', '--conf', config]);
      expect(purge.code).toBe(0);
      expect(await services.redis.hlen(deadLetterKey)).toBe(0);
    })).toBe(0);
    expect(await rowsAndDistinctPaths(services.db)).toEqual({ n: GOOD + 1, d: GOOD + 1 });
  });
});
