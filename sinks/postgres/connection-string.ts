import { userInfo } from 'node:os';
import type { ClientConfig } from 'pg';

/*
 * Tyk's `connection_string` is a pgx DSN: either a URL or libpq keyword/value pairs
 * (`host=/var/run/postgresql dbname=tyk user=tyk password='a b'`). node-postgres reads URLs only, so
 * keyword form is turned into a ClientConfig here.
 */

const KEYWORDS: Record<string, keyof ClientConfig> = {
  host: 'host',
  port: 'port',
  user: 'user',
  password: 'password',
  dbname: 'database',
  application_name: 'application_name',
  connect_timeout: 'connectionTimeoutMillis',
};

function parsePairs(dsn: string): Map<string, string> {
  const pairs = new Map<string, string>();
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(dsn)) !== null) {
    pairs.set(m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
    if (re.lastIndex >= dsn.length) break;
  }
  if (dsn.slice(re.lastIndex).trim() !== '') {
    throw new RangeError(`cannot read connection_string near ${JSON.stringify(dsn.slice(re.lastIndex, re.lastIndex + 20))}`);
  }
  return pairs;
}

/** libpq's default role: PGUSER, else the operating-system user (node-postgres reads only USER). */
function defaultUser(): string {
  return process.env.PGUSER || process.env.USER || userInfo().username;
}

export function pgClientConfig(connectionString: string): ClientConfig {
  const trimmed = connectionString.trim();
  if (/^postgres(ql)?:\/\//.test(trimmed)) {
    const url = new URL(trimmed);
    // A `user` option beside a URL is overridden by the URL's empty user name, so it goes into the URL.
    if (!url.username) url.username = encodeURIComponent(defaultUser());
    return { connectionString: url.toString() };
  }
  const config: Record<string, unknown> = { user: defaultUser() };
  for (const [key, value] of parsePairs(trimmed)) {
    if (key === 'sslmode') {
      if (value === 'disable') config.ssl = false;
      else config.ssl = { rejectUnauthorized: value === 'verify-full' || value === 'verify-ca' };
      continue;
    }
    if (key === 'TimeZone' || key === 'timezone') {
      config.options = `-c TimeZone=${value}`;
      continue;
    }
    const option = KEYWORDS[key];
    if (option === undefined) continue;
    config[option] = option === 'port' ? Number(value) : option === 'connectionTimeoutMillis' ? Number(value) * 1000 : value;
  }
  return config as ClientConfig;
}
