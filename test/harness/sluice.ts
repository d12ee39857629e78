import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/assets.js';
import { createServer } from 'node:net';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/** The node flags the `sluice` bin sets in its shebang (`#!/usr/bin/env -S node --max-old-space-size=…`). */
export function binNodeFlags(): string[] {
  const shebang = readFileSync(join(packageRoot(), 'src', 'cli', 'main.ts'), 'utf8').split('\n', 1)[0]!;
  return shebang.split(' ').filter((word) => word.startsWith('--'));
}

/**
 * Spawning node directly must set the bin's flags too. SLUICE_NODE_FLAGS adds more (e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` to profile a benchmark's worker), since NODE_OPTIONS refuses the profiling flags.
 */
const NODE_FLAGS = [...binNodeFlags(), ...(process.env.SLUICE_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])];

/** A sluice process started from the compiled CLI, as an operator starts it. */
export interface SluiceProcess {
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const path = join(dir, 'pump.conf');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

export function startSluice(args: string[], env: Record<string, string> = {}, cwd?: string): SluiceProcess {
  const proc = spawn(process.execPath, [...NODE_FLAGS, MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd });
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output, exited, kill: (signal = 'SIGTERM') => void proc.kill(signal) };
}

/** How the process ended ("exit code 1", "signal SIGABRT"), or undefined while it runs. */
export function exitStatus({ proc }: SluiceProcess): string | undefined {
  if (proc.signalCode !== null) return `signal ${proc.signalCode}`;
  return proc.exitCode !== null ? `exit code ${proc.exitCode}` : undefined;
}

/** The process's last log lines above debug, to print when a test around it fails. */
export function recentLog(sluice: SluiceProcess, lines = 20): string {
  return sluice.output.filter((l) => !l.includes('"level":20')).slice(-lines).join('\n');
}

/**
 * Runs `body` while `sluice` runs. A failure prints the process's recent log and is rethrown; either way
 * the process is sent SIGTERM, and its exit code is what this resolves to.
 */
export async function whileRunning(sluice: SluiceProcess, body: () => Promise<void>): Promise<number | null> {
  try {
    await body();
  } catch (err) {
    console.log(recentLog(sluice));
    throw err;
  } finally {
    sluice.kill('SIGTERM');
  }
  return sluice.exited;
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runSluice(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const p = startSluice(args, env);
  const code = await p.exited;
  return { code, output: p.output.join('\n') };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: string, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves once the process's `/ready` answers 200: Redis reachable and every sink open. */
export async function untilReady(sluice: SluiceProcess, port: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => {
    const status = exitStatus(sluice);
    if (status) throw new Error(`sluice ended (${status}) before it was ready:\n${recentLog(sluice)}`);
    return fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
  }, timeoutMs, '/ready');
}

export interface TestConfigOptions {
  prefix: string;
  pgUrl: string;
  port: number;
  tableSharding?: boolean;
  extra?: Record<string, unknown>;
  sluice?: Record<string, unknown>;
}

/** A pump.conf draining the test's keys into the test's database through Tyk's `sql` pump. */
export function sqlPumpConfig(o: TestConfigOptions): Record<string, unknown> {
  return {
    analytics_storage_config: { host: '127.0.0.1', port: 6379, key_prefix: o.prefix },
    purge_delay: 0.2,
    purge_chunk: 500,
    dont_purge_uptime_data: true,
    health_check_endpoint_port: o.port,
    pumps: { sql: { type: 'sql', meta: { type: 'postgres', connection_string: o.pgUrl, table_sharding: o.tableSharding ?? false } } },
    sluice: { lease_seconds: 2, shutdown_timeout: 8, ...o.sluice },
    ...o.extra,
  };
}
