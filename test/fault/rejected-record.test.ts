import { describe, expect, it } from 'vitest';
import { leftoverKeys, msgpackKeys } from '../harness/redis.js';
import { freePort, runSluice, sqlPumpConfig, startSluice, waitFor, writeConfig, whileRunning } from '../harness/sluice.js';
import { distinctRecords } from '../harness/records.js';
import type { DeadLetter } from '../../src/delivery/dead-letters.js';
import { rowCount, uniqueSqlPump } from './delivery-helpers.js';
import { fileServices } from '../harness/file-services.js';

/*
 * A record that decodes but that PostgreSQL refuses (a NUL character in a text column: 0x00 is not valid
 * in a PostgreSQL string), in the middle of one batch. The sink isolates it, the pipeline dead-letters it
 * alone as `rejected` with the sink's name and the store's message, and its batch-mates are written. The
 * aggregate pump beside it takes the record (it strips NULs). Fixed in place and replayed, the letter
 * reaches the sql sink alone: the aggregate does not count it twice.
 */

const BATCH = 300;
const BAD_AT = 137;

describe('a record the store rejects', () => {
  const services = fileServices('reject');
  const { prefix, deadLetterKey } = services;

  /** Waits for the list to drain and for one dead letter, and returns it. */
  async function theOneDeadLetter(): Promise<DeadLetter> {
    await waitFor(async () => (await leftoverKeys(services.redis, prefix)).length === 0, 60_000, 'the list drained');
    await waitFor(async () => (await services.redis.hlen(deadLetterKey)) === 1, 20_000, 'one dead letter');
    const [letter] = (await services.redis.hvals(deadLetterKey)).map((j) => JSON.parse(j) as DeadLetter);
    console.log(`dead letter: kind ${letter.kind}, sink ${letter.sink}, reason "${letter.reason}"`);
    return letter!;
  }

  it('is dead-lettered alone, its batch-mates land, and a replay reaches only the sink that refused it', { timeout: 120_000 }, async () => {
    const elements = distinctRecords('mate', BATCH);
    const [nul] = distinctRecords('nul', 1, { user_agent: 'curl/8\u0000evil' });
    elements[BAD_AT] = nul!;
    // One list and a chunk larger than the batch: all 300 are claimed, decoded and written as one batch.
    const [key] = msgpackKeys(prefix);
    await services.redis.rpush(key!, ...elements);
    const { sink, pumps } = uniqueSqlPump('reject', services.db.url);
    const aggregate = { type: 'sql_aggregate', meta: { type: 'postgres', connection_string: services.db.url } };
    const config = writeConfig(sqlPumpConfig({
      prefix, pgUrl: services.db.url, port: await freePort(),
      extra: { purge_chunk: 500, pumps: { ...pumps, [`${sink.toLowerCase()}_agg`]: aggregate } }, sluice: { dead_letter_key: deadLetterKey },
    }));
    const aggregateHits = async () => Number((await services.db.pool.query(`SELECT sum(counter_hits)::int AS n FROM tyk_aggregated WHERE dimension = ''`)).rows[0].n);
    const sluice = startSluice(['--conf', config]);
    expect(await whileRunning(sluice, async () => {
      const letter = await theOneDeadLetter();
      expect(letter).toMatchObject({ kind: 'rejected', sink, sourceKey: key, b64: nul!.toString('base64') });
      expect(letter.id.startsWith(`${sink}:`)).toBe(true);
      expect(letter.reason).toMatch(/0x00/);
      expect(await rowCount(services.db)).toBe(BATCH - 1);
      const paths = await services.db.pool.query(`SELECT count(DISTINCT path)::int AS d, count(*) FILTER (WHERE path LIKE '/nul/%')::int AS nul FROM tyk_analytics`);
      expect(paths.rows[0]).toEqual({ d: BATCH - 1, nul: 0 });
      expect(await aggregateHits()).toBe(BATCH);

      // The operator's fix: the same record without the NUL, replayed while the worker runs.
      const [fixed] = distinctRecords('nul', 1, { user_agent: 'curl/8 evil' });
      await services.redis.hset(deadLetterKey, letter.id, JSON.stringify({ ...letter, b64: fixed!.toString('base64') }));
      const replay = await runSluice(['dlq', 'replay', '--id', letter.id, '--conf', config]);
      expect(replay.code).toBe(0);
      expect(replay.output).toContain('1 into the retry queues of the sinks that refused them');
      await waitFor(async () => (await rowCount(services.db)) === BATCH, 30_000, 'the replayed record');
      expect(await services.redis.hlen(deadLetterKey)).toBe(0);
      expect(await aggregateHits()).toBe(BATCH);
    })).toBe(0);
    expect(await aggregateHits()).toBe(BATCH);
  });

  it('that an aggregate pump cannot count (a latency of centuries) is dead-lettered for it, its batch-mates counted', { timeout: 120_000 }, async () => {
    await services.redis.del(deadLetterKey);
    const elements = distinctRecords('lat', BATCH);
    const [corrupt] = distinctRecords('lat-corrupt', 1, { latency: { total: 2 ** 60, upstream: 1, gateway: 0 } });
    elements[BAD_AT] = corrupt!;
    const [key] = msgpackKeys(prefix);
    await services.redis.rpush(key!, ...elements);
    const aggregateSink = 'CENTURIES_AGG';
    // Daily shards keep this test's rows apart from the first test's tyk_aggregated.
    const pumps = { [aggregateSink.toLowerCase()]: { type: 'sql_aggregate', meta: { type: 'postgres', connection_string: services.db.url, table_sharding: true } } };
    const config = writeConfig(sqlPumpConfig({
      prefix, pgUrl: services.db.url, port: await freePort(), extra: { purge_chunk: 500, pumps }, sluice: { dead_letter_key: deadLetterKey },
    }));
    const sluice = startSluice(['--conf', config]);
    expect(await whileRunning(sluice, async () => {
      const letter = await theOneDeadLetter();
      expect(letter).toMatchObject({ kind: 'rejected', sink: aggregateSink, sourceKey: key, b64: corrupt!.toString('base64') });
      expect(letter.reason).toMatch(/Latency\.Total: 1152921504606847000 is not an integer an aggregate counter adds exactly/);
      const shards = await services.db.pool.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE 'tyk_aggregated_2%'`);
      const hits = await Promise.all(shards.rows.map(async ({ tablename }) => Number((await services.db.pool.query(`SELECT sum(counter_hits)::int AS n FROM ${tablename} WHERE dimension = ''`)).rows[0].n)));
      expect(hits.reduce((a, b) => a + b, 0)).toBe(BATCH - 1);
    })).toBe(0);
  });
});
