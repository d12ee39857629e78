#!/usr/bin/env -S node --max-old-space-size=160
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/config-error.js';
import { createLogger } from '../log/logger.js';
import { startWorker } from '../worker.js';
import { VERSION } from '../version.js';

const USAGE = `sluice ${VERSION}: an analytics pump for Tyk gateways

Usage:
  sluice [--conf pump.conf] [--debug]      run the worker
  sluice check --offline [--conf …]        validate the configuration without connecting
  sluice --version

Options:
  -c, --conf PATH   Tyk pump.conf (default: ./pump.conf, else config/pump.default.conf)
  --debug           log at debug level
`;

/** Exit codes: 0 done, 1 failure at run time, 2 the configuration or the command line is wrong. */
const EXIT_CONFIG = 2;

function parseCommandLine() {
  return parseArgs({
    allowPositionals: true,
    options: {
      conf: { type: 'string', short: 'c' },
      debug: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
      offline: { type: 'boolean', default: false },
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
  const logger = createLogger({ level: values.debug ? 'debug' : loaded.config.log_level });
  for (const warning of loaded.warnings) logger.warn(warning);
  const [command] = positionals;
  if (command === 'check' && values.offline) {
    process.stdout.write(`configuration ok (${loaded.source})\n`);
    return 0;
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
