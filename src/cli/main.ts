#!/usr/bin/env -S node --max-old-space-size=160
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/config-error.js';
import { createLogger, redactCredentials } from '../log/logger.js';
import { startWorker } from '../worker.js';
import { VERSION } from '../version.js';
import { UsageError, type CommandContext } from './commands/common.js';
import { checkCommand } from './commands/check.js';
import { statusCommand } from './commands/status.js';
import { dlqCommand } from './commands/dlq.js';

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
  sluice --version

Options:
  -c, --conf PATH   Tyk pump.conf (default: ./pump.conf, else config/pump.default.conf)
  --debug           log at debug level
  --json            machine-readable output (status, dlq list)
`;

/** Exit codes: 0 done, 1 failure at run time, 2 the configuration or the command line is wrong. */
const EXIT_CONFIG = 2;

const COMMANDS: Record<string, (ctx: CommandContext) => Promise<number>> = {
  check: checkCommand,
  status: statusCommand,
  dlq: dlqCommand,
};

/** An operator command: usage and configuration mistakes exit 2, anything else it could not reach 1. */
async function runCommand(run: (ctx: CommandContext) => Promise<number>, ctx: CommandContext): Promise<number> {
  try {
    return await run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return EXIT_CONFIG;
    }
    if (err instanceof ConfigError) {
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
  const run = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run) {
    return runCommand(run, {
      config: loaded.config, logger, args: commandArgs, json: values.json, sink: values.sink, ids: values.id ?? [],
      olderThan: values['older-than'], out: (text) => process.stdout.write(text),
    });
  }
  if (command !== undefined) {
    process.stderr.write(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
    return EXIT_CONFIG;
  }
  logger.info({ config: loaded.source }, 'configuration loaded');
  let worker: Awaited<ReturnType<typeof startWorker>>;
  try {
    worker = await startWorker(loaded.config, logger);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`sluice: invalid configuration\n  ${err.message}\n`);
    return EXIT_CONFIG;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info({ signal }, 'signal received');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await worker.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sluice: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
