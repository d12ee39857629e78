#!/usr/bin/env -S node --max-old-space-size=160 --max-semi-space-size=4 --v8-pool-size=2
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/config-error.js';
import { createLogger, redactCredentials } from '../log/logger.js';
import { SluiceError } from '../errors.js';
import { VERSION } from '../version.js';
import type { CommandContext } from './commands/common.js';
import type { DemoOptions } from '../demo/write-traffic.js';

const USAGE = `sluice ${VERSION}: an analytics pump for Tyk gateways

Usage:
  sluice [--conf pump.conf] [--debug]      run the worker
  sluice check [--offline] [--conf …]      validate the configuration and reach Redis and every sink
                                           (--offline: validate only, without connecting)
  sluice status [--json]                   backlog, oldest record, in-flight batches per gateway list;
                                           retry backlog and dead letters per sink
  sluice dlq list [--json] [--sink S]      dead letters and batches that exhausted their retries
  sluice dlq replay [--sink S] [--id ID …] put them back: letters onto their gateway list, batches into
                                           their retry queue (no filter: all of them)
  sluice dlq purge --older-than 7d [--sink S]  remove those older than 30m, 12h, 7d, …
  sluice demo [--records N] [--days D] [--rate R] [--protobuf]
                                           write realistic gateway traffic into Redis (defaults: 10000
                                           records over 7 days, as fast as possible, msgpack)
  sluice --demo [--conf …]                 write demo traffic, then run the worker on it
  sluice --version

Options:
  -c, --conf PATH   Tyk pump.conf (default: ./pump.conf, else config/pump.default.conf)
  --debug           log at debug level
  --json            machine-readable output (status, dlq list)
`;

/** Exit codes: 0 done, 1 failure at run time, 2 the configuration or the command line is wrong. */
const EXIT_CONFIG = 2;

type Command = (ctx: CommandContext, demo: DemoOptions) => Promise<number>;

/* Loaded on demand, so `--version` and configuration errors answer without loading every driver. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  check: async () => (await import('./commands/check.js')).checkCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  dlq: async () => (await import('./commands/dlq.js')).dlqCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
};

/** `config_invalid`: the configuration loader's errors and the Redis settings that cannot work. */
function isConfigError(err: unknown): err is SluiceError {
  return err instanceof SluiceError && err.code === 'config_invalid';
}

function positiveNumber(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`--${option} expects a number ≥ 0, got ${JSON.stringify(text)}`);
  return value;
}

function demoOptions(values: ReturnType<typeof parseCommandLine>['values']): DemoOptions {
  return {
    records: Math.floor(positiveNumber(values.records, 'records', 10_000)),
    days: positiveNumber(values.days, 'days', 7),
    rate: positiveNumber(values.rate, 'rate', 0),
    protobuf: values.protobuf,
    seed: Date.now() % 2 ** 31,
  };
}

/** An operator command: usage and configuration mistakes exit 2, anything else it could not reach 1. */
async function runCommand(run: Command, ctx: CommandContext, demo: DemoOptions): Promise<number> {
  try {
    return await run(ctx, demo);
  } catch (err) {
    if (err instanceof Error && err.name === 'UsageError') {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return EXIT_CONFIG;
    }
    if (isConfigError(err)) {
      process.stderr.write(`sluice: invalid configuration\n  ${err.message}\n`);
      return EXIT_CONFIG;
    }
    process.stderr.write(`sluice: ${redactCredentials((err as Error).message)}\n`);
    return 1;
  }
}

function parseCommandLine() {
  return parseArgs({
    allowPositionals: true,
    options: {
      conf: { type: 'string', short: 'c' },
      debug: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
      offline: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      sink: { type: 'string' },
      id: { type: 'string', multiple: true },
      'older-than': { type: 'string' },
      demo: { type: 'boolean', default: false },
      records: { type: 'string' },
      days: { type: 'string' },
      rate: { type: 'string' },
      protobuf: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseCommandLine>;
  try {
    args = parseCommandLine();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return EXIT_CONFIG;
  }
  const { values, positionals } = args;
  if (values.version) {
    process.stdout.write(`sluice ${VERSION}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ path: values.conf, env: process.env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`sluice: invalid configuration\n${err.message.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
    return EXIT_CONFIG;
  }
  const [command, ...commandArgs] = positionals;
  // Operator commands keep stdout for their answer (`--json` must parse), so their logs go to stderr.
  const destination = command === undefined ? process.stdout : process.stderr;
  const logger = createLogger({ level: values.debug ? 'debug' : loaded.config.log_level, destination });
  for (const warning of loaded.warnings) logger.warn(warning);
  if (command === 'check' && values.offline) {
    process.stdout.write(`configuration ok (${loaded.source})\n`);
    return 0;
  }
  let demo: DemoOptions;
  try {
    demo = demoOptions(values);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return EXIT_CONFIG;
  }
  const ctx: CommandContext = {
    config: loaded.config, logger, args: commandArgs, json: values.json, sink: values.sink, ids: values.id ?? [],
    olderThan: values['older-than'], out: (text) => process.stdout.write(text),
  };
  const load = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (load) return runCommand(await load(), ctx, demo);
  if (command !== undefined) {
    process.stderr.write(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
    return EXIT_CONFIG;
  }
  logger.info({ config: loaded.source }, 'configuration loaded');
  if (values.demo) {
    const code = await runCommand(await COMMANDS.demo!(), { ...ctx, out: (text) => logger.info(text.trim()) }, demo);
    if (code !== 0) return code;
  }
  // Listening before the worker loads: a stop asked for during start-up waits for the start, then stops
  // cleanly, instead of killing a process that may already hold claimed batches.
  const stopAsked = new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info({ signal }, 'signal received');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  const { startWorker } = await import('../worker.js');
  let worker: Awaited<ReturnType<typeof startWorker>>;
  try {
    worker = await startWorker(loaded.config, logger);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`sluice: invalid configuration\n  ${err.message}\n`);
    return EXIT_CONFIG;
  }
  await stopAsked;
  await worker.stop();
  return 0;
}

/** process.exit drops what a pipe has not taken yet (`sluice dlq list --json | jq` would get half a document). */
function exitWhenFlushed(code: number): void {
  let waiting = 2;
  const done = () => {
    if (--waiting === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main().then(
  (code) => exitWhenFlushed(code),
  (err: unknown) => {
    process.stderr.write(`sluice: ${(err as Error).stack ?? String(err)}\n`);
    exitWhenFlushed(1);
  },
);
