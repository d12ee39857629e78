import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/assets.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { EncodePool, EncodeThreadError } from '../../src/pipeline/encode-pool.js';
import { prepareBatch, type PreparedBatch } from '../../src/pipeline/prepare-batch.js';
import { planSinks } from '../../src/pipeline/sink-plans.js';
import type { EncodedAggregateBatch } from '../../sinks/postgres-aggregate/aggregate-table-sink.js';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';
import { binNodeFlags, writeConfig } from '../harness/sluice.js';

/*
 * Encode threads for real (worker_threads running the compiled encode-thread.js): a batch prepared in a
 * thread is the batch prepared on the main thread, and a thread that dies or never starts loses nothing.
 * The sinks are built from the config but never opened, so no database is needed.
 */

const config = loadConfig({
  path: writeConfig({
    pumps: {
      sql: { type: 'sql', meta: { type: 'postgres', connection_string: 'postgres://unused/db', table_sharding: true } },
      agg: { type: 'sql_aggregate', meta: { type: 'postgres', connection_string: 'postgres://unused/db', store_analytics_per_minute: true } },
      skip200: { type: 'sql', meta: { type: 'postgres', connection_string: 'postgres://unused/db' }, filters: { skip_response_codes: [200] } },
    },
    uptime_pump_config: { uptime_type: 'sql', connection_string: 'postgres://unused/db' },
  }),
  env: {},
}).config;

const lines: string[] = [];
const logger = createLogger({ level: 'info', destination: new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }) });
const pools: EncodePool[] = [];

function pool(size: number, script?: string): EncodePool {
  const p = new EncodePool(config, size, logger, script);
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  lines.length = 0;
});

/**
 * What crossed the thread boundary, compared as data: a Buffer arrives as a plain Uint8Array, and aggregate
 * rows' columns as the typed arrays they left as.
 */
function asData(prepared: PreparedBatch): unknown {
  return JSON.parse(JSON.stringify(prepared, (_key, value) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
    if (value instanceof Map) return [...value];
    if (value && typeof value === 'object' && value.type === 'Buffer' && Array.isArray(value.data)) return Buffer.from(value.data).toString('base64');
    return value;
  }), (key, value) => (key === 'at' ? '(time)' : value));
}

/** A thread of the test's own: answers with an empty batch, and dies on a batch from the key `die`. */
function scriptFile(body: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-thread-')), 'thread.mjs');
  writeFileSync(file, `import { parentPort } from 'node:worker_threads';\n${body}`);
  return file;
}
const DYING_THREAD = scriptFile(`
parentPort.on('message', (r) => {
  if (r.sourceKey === 'die') process.exit(3);
  setTimeout(() => parentPort.postMessage({ seq: r.seq, prepared: { id: r.sourceKey, elementIds: [], decoded: r.ends.length, letters: [], shares: [] } }), 50);
});
parentPort.postMessage({ ready: true });
`);
const THREAD_THAT_CANNOT_START = scriptFile(`throw new Error('no sinks for you');`);

describe('encode threads', () => {
  it('prepare an analytics batch exactly as the main thread does, for every sink', async () => {
    const elements = [...analyticsMsgpackFixtures().map((f) => f.bytes), Buffer.from([0xc1])];
    const here = prepareBatch(elements, 'msgpack', 'k', (await planSinks(config, { logger, config })).analytics);
    const there = await pool(2).prepare(elements, 'msgpack', 'k');
    expect(there.letters).toHaveLength(1);
    expect(there.shares.map((s) => [s.route, s.content.kind])).toEqual([[0, 'encoded'], [1, 'encoded'], [2, 'encoded']]);
    expect((there.shares[1]!.content as { encoded: EncodedAggregateBatch }).encoded.columns?.numbers.length).toBeGreaterThan(0);
    expect(asData(there)).toEqual(asData(here));
  });

  it('prepare uptime batches too', async () => {
    const elements = uptimeMsgpackFixtures().map((f) => f.bytes);
    const here = prepareBatch(elements, 'uptime', 'tyk-uptime-analytics', (await planSinks(config, { logger, config })).uptime);
    const there = await pool(1).prepare(elements, 'uptime', 'tyk-uptime-analytics');
    expect(there.decoded).toBe(elements.length);
    expect(asData(there)).toEqual(asData(here));
  });

  it('pack the next batches into the buffers the threads hand back, without changing a reply that viewed one', async () => {
    // Replies with a view of the batch's first element and with the size of the buffer it came in, then
    // hands the buffer back, as encode-thread.js does.
    const thread = scriptFile(`
parentPort.on('message', (r) => {
  const first = r.bytes.subarray(0, r.ends[0]);
  parentPort.postMessage({ seq: r.seq, prepared: { id: String(r.bytes.buffer.byteLength), elementIds: [], decoded: r.ends.length, letters: [], shares: [{ route: 0, recordIds: [], content: { kind: 'encoded', encoded: first } }] } });
  parentPort.postMessage({ spare: r.bytes.buffer }, [r.bytes.buffer]);
});
parentPort.postMessage({ ready: true });
`);
    const p = pool(1, thread);
    const batch = (fill: string, size: number) => Array.from({ length: 4 }, () => Buffer.alloc(size, fill));
    const viewed = (prepared: PreparedBatch) => Buffer.from((prepared.shares[0]!.content as { encoded: Uint8Array }).encoded).toString();
    const first = await p.prepare(batch('a', 1000), 'msgpack', 'k');
    // The hand-back is a message of its own, after the reply: let it arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await p.prepare(batch('b', 900), 'msgpack', 'k');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const third = await p.prepare(batch('c', 2000), 'msgpack', 'k');
    // A new buffer has a quarter to spare; the second batch came in the first one's, the third outgrew it.
    expect([first.id, second.id, third.id]).toEqual(['5000', '5000', '10000']);
    expect([viewed(first), viewed(second), viewed(third)]).toEqual(['a'.repeat(1000), 'b'.repeat(900), 'c'.repeat(2000)]);
  });

  it('a thread that dies refuses the batches it held, and a new thread takes the next ones', async () => {
    const p = pool(1, DYING_THREAD);
    const before = p.prepare([Buffer.from('a')], 'msgpack', 'before');
    const dying = p.prepare([Buffer.from('b')], 'msgpack', 'die').catch((err: unknown) => err);
    await expect(before).rejects.toBeInstanceOf(EncodeThreadError);
    expect(await dying).toBeInstanceOf(EncodeThreadError);
    expect(String(await dying)).toMatch(/exited with code 3/);
    await expect(p.prepare([Buffer.from('c'), Buffer.from('d')], 'msgpack', 'after')).resolves.toMatchObject({ id: 'after', decoded: 2 });
    expect(p.available).toBe(true);
    expect(lines.filter((l) => l.includes('encode thread lost; starting another'))).toHaveLength(1);
  });

  it('a thread that cannot start makes the pool unavailable once, instead of restarting it forever', async () => {
    const p = pool(2, THREAD_THAT_CANNOT_START);
    await expect(p.prepare([Buffer.from('a')], 'msgpack', 'k')).rejects.toBeInstanceOf(EncodeThreadError);
    expect(p.available).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lines.filter((l) => l.includes('encode thread cannot start'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('starting another'))).toHaveLength(0);
  });

  it('cap each thread\'s heap by its own limits under the heap flags the sluice command sets for the main thread', () => {
    // V8 lets process-wide heap flags override a Worker's resourceLimits; this runs where they are set.
    const thread = scriptFile(`
import v8 from 'node:v8';
parentPort.on('message', (r) => parentPort.postMessage({ seq: r.seq, prepared: { id: String(v8.getHeapStatistics().heap_size_limit), elementIds: [], decoded: 0, letters: [], shares: [] } }));
parentPort.postMessage({ ready: true });
`);
    const dist = (path: string) => pathToFileURL(join(packageRoot(), 'dist', 'src', path)).href;
    const program = `
import v8 from 'node:v8';
import { EncodePool } from '${dist('pipeline/encode-pool.js')}';
import { createLogger } from '${dist('log/logger.js')}';
const limit = () => v8.getHeapStatistics().heap_size_limit;
const before = limit();
const pool = new EncodePool({}, 1, createLogger({ level: 'silent' }), ${JSON.stringify(thread)});
const prepared = await pool.prepare([Buffer.from('a')], 'msgpack', 'k');
console.log(JSON.stringify({ before, after: limit(), thread: Number(prepared.id) }));
await pool.close();
`;
    const flags = binNodeFlags();
    expect(flags).toEqual(['--max-old-space-size=160', '--max-semi-space-size=4', '--v8-pool-size=2']);
    const programFile = join(mkdtempSync(join(tmpdir(), 'sluice-heap-')), 'program.mjs');
    writeFileSync(programFile, program);
    const limits = JSON.parse(execFileSync(process.execPath, [...flags, programFile], { encoding: 'utf8' })) as Record<string, number>;
    const MB = 2 ** 20;
    // heap_size_limit is the old generation plus the young one (three semi-spaces).
    expect(limits).toEqual({ before: (160 + 12) * MB, after: (160 + 12) * MB, thread: (64 + 48) * MB });
  });

  it('a closed pool takes no more batches', async () => {
    const p = pool(1);
    await p.close();
    expect(p.available).toBe(false);
    await expect(p.prepare([Buffer.from('a')], 'msgpack', 'k')).rejects.toBeInstanceOf(EncodeThreadError);
  });
});
