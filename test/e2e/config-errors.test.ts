import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { packageRoot } from '../../src/assets.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import { freshDatabase, type TestDatabase } from '../harness/postgres.js';
import { leftoverKeys, msgpackKeys, pushRoundRobin, redisClient, uniquePrefix } from '../harness/redis.js';
import { freePort, runSluice, startSluice, waitFor, writeConfig } from '../harness/sluice.js';

/*
 * The CLI as an operator meets it: a wrong configuration exits 2 before anything connects, with stderr
 * naming the key; `--version` and `check --offline` answer without services; and no secret from the
 * configuration reaches the output, even at debug level.
 */

const EXIT_CONFIG = 2;
/** TEST-NET-1 (RFC 5737): never routed, so a process that tried to connect here would hang, not fail fast. */
const UNREACHABLE_HOST = '192.0.2.1';

type Json = Record<string, unknown>;

/** A local port that counts the connections made to it, standing in for Redis and PostgreSQL. */
interface ConnectionTrap {
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function openTrap(): Promise<ConnectionTrap> {
  const server = createServer((socket) => {
    trap.connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const trap: ConnectionTrap = {
    port: (server.address() as AddressInfo).port,
    connections: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return trap;
}

let trap: ConnectionTrap;
beforeAll(async () => {
  trap = await openTrap();
});
afterAll(async () => {
  await trap.close();
});

/** A valid configuration whose Redis and PostgreSQL are the trap (or `host`, when given). */
function serviceConfig(extra: Json = {}, host = '127.0.0.1'): Json {
  return {
    analytics_storage_config: { host, port: trap.port, key_prefix: 'never-read-' },
    dont_purge_uptime_data: true,
    pumps: { sql: { type: 'sql', meta: { type: 'postgres', connection_string: `postgres://root:supersecret@${host}:${trap.port}/test` } } },
    ...extra,
  };
}

function withPump(pump: Json): Json {
  return serviceConfig({ pumps: { sql: pump } });
}

/** Runs the CLI to its exit, keeping stderr apart from stdout and timing the run. */
async function runTimed(args: string[], env: Record<string, string> = {}) {
  const started = Date.now();
  const run = startSluice(args, env);
  const stderr: string[] = [];
  run.proc.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const code = await run.exited;
  return { code, stderr: stderr.join(''), output: run.output.join('\n'), ms: Date.now() - started };
}

interface BadConfigCase {
  what: string;
  /** pump.conf content, or raw text for a file that is not JSON; built when the trap's port is known. */
  file: () => Json | string;
  env?: Record<string, string>;
  /** Text stderr must contain: the key or variable at fault. */
  names: string;
}

const BAD_CONFIGS: BadConfigCase[] = [
  { what: 'an unknown key', file: () => serviceConfig({ purge_dely: 1 }), names: 'purge_dely: unknown key; did you mean "purge_delay"?' },
  {
    what: 'a misplaced key',
    file: () => withPump({ type: 'sql', batch_size: 10, meta: { type: 'postgres', connection_string: 'host=x' } }),
    names: 'pumps.SQL.batch_size: unknown key; it belongs in pumps.SQL.meta.batch_size',
  },
  { what: 'a wrong type', file: () => serviceConfig({ health_check_endpoint_port: 'eighty' }), names: 'health_check_endpoint_port: must be integer' },
  { what: 'a missing connection_string', file: () => withPump({ type: 'sql', meta: { type: 'postgres' } }), names: 'pumps.SQL.meta.connection_string: is required' },
  {
    what: 'an unsupported pump type',
    file: () => withPump({ type: 'kafka' }),
    names: 'pumps.SQL.type: pump type "kafka" is not implemented by Sluice; supported types: sql, sql_aggregate, mongo',
  },
  { what: 'a bad env value', file: () => serviceConfig(), env: { TYK_PMP_PURGECHUNK: 'abc' }, names: 'TYK_PMP_PURGECHUNK: expected an integer' },
  { what: 'a file that is not JSON', file: () => '{ "purge_delay": 1,, }', names: '--conf: ' },
  { what: 'a kv:// reference', file: () => serviceConfig({ statsd_prefix: 'kv://vault/prefix' }), names: 'statsd_prefix: kv://' },
  {
    what: 'ssl_cert_file without ssl_key_file',
    file: () => serviceConfig({ analytics_storage_config: { host: '127.0.0.1', port: trap.port, use_ssl: true, ssl_cert_file: '/c.pem' } }),
    names: 'analytics_storage_config.ssl_cert_file',
  },
  {
    what: 'ssl_min_version above ssl_max_version',
    file: () => serviceConfig({ analytics_storage_config: { host: '127.0.0.1', port: trap.port, ssl_min_version: '1.3', ssl_max_version: '1.2' } }),
    names: 'analytics_storage_config.ssl_min_version',
  },
];

function confFile(file: Json | string): string {
  if (typeof file !== 'string') return writeConfig(file);
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-test-')), 'pump.conf');
  writeFileSync(path, file);
  return path;
}

describe('a wrong configuration exits 2 and names the key, before connecting to anything', () => {
  it.each(BAD_CONFIGS)('$what', async ({ file, env, names }) => {
    const run = await runTimed(['--conf', confFile(file())], env);
    expect(run.code).toBe(EXIT_CONFIG);
    expect(run.stderr).toContain('sluice: invalid configuration');
    expect(run.stderr).toContain(names);
    expect(run.output).not.toContain('supersecret');
    expect(trap.connections).toBe(0);
  });

  it('exits quickly when Redis is unreachable, because it never tries to reach it', async () => {
    const path = confFile(serviceConfig({ purge_dely: 1 }, UNREACHABLE_HOST));
    // `--version` alongside, under the same load, measures what loading the CLI's modules costs.
    const [startup, run] = await Promise.all([runTimed(['--version']), runTimed(['--conf', path])]);
    expect(run.code).toBe(EXIT_CONFIG);
    // A connection attempt to a host that never answers would last the 5 s Redis timeout at least. On a
    // loaded machine the startup alone can near 2 s, so the bound allows for the measured startup.
    expect(run.ms).toBeLessThan(Math.max(2_000, startup.ms + 1_000));
  });

  it('a missing --conf file exits 2 naming it', async () => {
    const path = join(tmpdir(), 'sluice-no-such-dir', 'pump.conf');
    const run = await runTimed(['--conf', path]);
    expect(run.code).toBe(EXIT_CONFIG);
    expect(run.stderr).toContain(`--conf: cannot read ${path}`);
  });

  it('an unknown option or command exits 2 with the usage', async () => {
    for (const args of [['--no-such-flag'], ['frobnicate', '--conf', confFile(serviceConfig())]]) {
      const run = await runTimed(args);
      expect(run.code).toBe(EXIT_CONFIG);
      expect(run.stderr).toContain('Usage:');
    }
    expect(trap.connections).toBe(0);
  });
});

describe('commands that need no services', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    const run = await runSluice(['--version']);
    expect(run.code).toBe(0);
    expect(run.output.trim()).toBe(`sluice ${version}`);
  });

  it('check --offline accepts a good configuration without connecting to its services', async () => {
    const path = confFile(serviceConfig());
    const run = await runTimed(['check', '--offline', '--conf', path]);
    expect(run.code).toBe(0);
    expect(run.output).toContain(`configuration ok (${path})`);
    expect(trap.connections).toBe(0);
  });
});

describe('secrets never reach the output', () => {
  let db: TestDatabase;
  let redis: Redis;
  const prefix = uniquePrefix('secrets');

  beforeAll(async () => {
    db = await freshDatabase('secrets');
    redis = redisClient();
  });
  afterAll(async () => {
    await redis.quit();
    await db.drop();
  });

  it('a password and a connection string with a password stay out of --debug output', async () => {
    const pgUrl = new URL(db.url);
    pgUrl.username = 'root';
    pgUrl.password = 'supersecret';
    const config = writeConfig({
      analytics_storage_config: { host: '127.0.0.1', port: 6379, key_prefix: prefix, password: 'supersecret' },
      purge_delay: 0.2,
      dont_purge_uptime_data: true,
      health_check_endpoint_port: await freePort(),
      pumps: { sql: { type: 'sql', meta: { type: 'postgres', connection_string: pgUrl.toString() } } },
      sluice: { shutdown_timeout: 5 },
    });
    // A few records, so batches are claimed and written and their debug lines logged.
    await pushRoundRobin(redis, msgpackKeys(prefix), analyticsMsgpackFixtures().slice(0, 20).map((f) => f.bytes));
    const run = startSluice(['--conf', config, '--debug']);
    try {
      await waitFor(async () => (await leftoverKeys(redis, prefix)).length === 0, 10_000, 'the records to be drained');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      run.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    const output = run.output.join('\n');
    expect(output).toContain('"level":20');
    expect(output).not.toContain('supersecret');
  });
});
