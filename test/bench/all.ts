/*
 * `npm run bench`: every benchmark in turn, each in a process of its own (so one's memory and connections
 * do not weigh on the next), with the same environment. Their progress goes to stderr as it happens; their
 * JSON results are printed together as one JSON object keyed by benchmark. A benchmark that fails is
 * reported under `failed` and the rest still run; the exit code is then 1.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteAbandonedKeys } from '../harness/redis.js';

const BENCHMARKS = ['run', 'aggregate', 'delivery', 'mongo', 'scaling'] as const;
const here = dirname(fileURLToPath(import.meta.url));

function runBenchmark(name: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, `${name}.js`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(chunks).toString('utf8') }));
  });
}

async function main(): Promise<void> {
  // Keys that killed benchmarks or tests left; their databases go at each benchmark's first freshDatabase.
  const deleted = await deleteAbandonedKeys();
  if (deleted > 0) process.stderr.write(`[bench] deleted ${deleted} keys that killed runs had left in Redis\n`);
  const results: Record<string, unknown> = {};
  const failed: Array<{ benchmark: string; exit_code: number | null; stdout: string }> = [];
  for (const name of BENCHMARKS) {
    process.stderr.write(`[bench] ${name}\n`);
    const { code, stdout } = await runBenchmark(name);
    try {
      if (code !== 0) throw new Error('failed');
      results[name] = JSON.parse(stdout) as unknown;
    } catch {
      failed.push({ benchmark: name, exit_code: code, stdout: stdout.slice(0, 2000) });
    }
  }
  process.stdout.write(`${JSON.stringify({ benchmarks: results, failed }, null, 2)}\n`);
  if (failed.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
