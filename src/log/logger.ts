import { pino, type Logger } from 'pino';

export type { Logger };

/** Config paths that hold secrets; pino replaces their values before a line is written. */
const SECRET_PATHS = [
  'password', '*.password', '*.*.password',
  'sentinel_password', '*.sentinel_password',
  'connection_string', '*.connection_string', '*.*.connection_string',
  'mongo_url', '*.mongo_url', '*.*.mongo_url',
];

export interface LoggerOptions {
  level: string;
  /** Where lines go; standard output when absent. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level === 'warning' ? 'warn' : options.level;
  return pino(
    { level, base: { service: 'sluice', pid: process.pid }, redact: { paths: SECRET_PATHS, censor: '[secret]' } },
    options.destination ?? process.stdout,
  );
}

/** Credentials inside a URL or DSN, for messages that must mention where Sluice tried to connect. */
export function redactCredentials(text: string): string {
  return text
    .replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1[secret]@')
    .replace(/(password\s*=\s*)('([^'\\]|\\.)*'|\S+)/gi, '$1[secret]');
}
