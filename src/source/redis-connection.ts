import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, SecureVersion } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { StorageConfig } from '../config/types.js';
import { SluiceError, errorMessage } from '../errors.js';

/*
 * The one place Sluice turns Tyk's `analytics_storage_config` into an ioredis client (DESIGN.md "Sources and
 * topologies"). Client selection follows the Tyk storage library: `master_name` → Sentinel, else
 * `enable_cluster` → Cluster, else a single node. The client never gives up: Redis outages are waited out,
 * not turned into process exits.
 */

export type RedisClient = Redis | Cluster;

export type Topology = 'standalone' | 'sentinel' | 'cluster';

export interface RedisClientOptions {
  /** Shown in CLIENT LIST (`connectionName`), so operators can tell Sluice's connections apart. */
  name?: string;
  /** Do not connect until the first command. */
  lazy?: boolean;
  /**
   * For clients that issue blocking commands (BullMQ's workers wait in BZPOPMIN for jobs): no command
   * timeout, which would cut every wait short.
   */
  blocking?: boolean;
  /**
   * Receives connection failures, already explained. Called once per kind of failure, and again after the
   * connection has recovered; the client goes on retrying either way. Without it, failures go to stderr.
   */
  onError?: (error: RedisConnectionError) => void;
}

/** A setting in `analytics_storage_config` that cannot work; raised before any connection is tried. */
export class RedisConfigError extends SluiceError {
  constructor(message: string, readonly setting: string, context: Record<string, unknown> = {}, cause?: unknown) {
    super('config_invalid', message, { setting, ...context }, { cause });
  }
}

/** Sluice could not talk to Redis; `settings` lists the keys of `analytics_storage_config` to check. */
export class RedisConnectionError extends SluiceError {
  constructor(message: string, readonly settings: readonly string[], context: Record<string, unknown>, cause: unknown) {
    super('redis_connection', message, { settings, ...context }, { cause });
  }
}

interface Address {
  host: string;
  port: number;
}

const DEFAULT_TIMEOUT_SECONDS = 5;
const DEFAULT_REDIS_PORT = 6379;
const MAX_RECONNECT_DELAY_MS = 10_000;

export function topologyOf(storage: StorageConfig): Topology {
  if (storage.master_name) return 'sentinel';
  if (storage.enable_cluster) return 'cluster';
  return 'standalone';
}

export function createRedisClient(storage: StorageConfig, opts: RedisClientOptions = {}): RedisClient {
  const client = buildClient(storage, opts);
  reportErrors(client, storage, opts.onError ?? writeToStderr);
  return client;
}

function buildClient(storage: StorageConfig, opts: RedisClientOptions): RedisClient {
  const nodeOptions = nodeConnectionOptions(storage, opts);
  const topology = topologyOf(storage);
  if (topology === 'cluster') return new Cluster(addressesOf(storage), clusterOptions(nodeOptions, opts));
  if (topology === 'sentinel') return new SentinelClient({ ...nodeOptions, ...sentinelOptions(storage, nodeOptions) });
  return new Redis({ ...nodeOptions, ...addressesOf(storage)[0], db: storage.database || 0 });
}

/** Options every connection shares, whatever the topology. */
function nodeConnectionOptions(storage: StorageConfig, opts: RedisClientOptions): RedisOptions {
  const timeoutMs = (storage.timeout > 0 ? storage.timeout : DEFAULT_TIMEOUT_SECONDS) * 1000;
  const tls = tlsOptions(storage);
  return {
    username: storage.username || undefined,
    password: storage.password || undefined,
    connectionName: opts.name,
    lazyConnect: opts.lazy ?? false,
    connectTimeout: timeoutMs,
    // A command that sat in the offline queue or on a dead socket for this long fails, so callers see an
    // outage as an error they can retry instead of a promise that never settles.
    commandTimeout: opts.blocking ? undefined : timeoutMs,
    // Never fail a command because of the number of reconnects: the worker runs for months.
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: reconnectDelay,
    // After a failover the old master answers writes with READONLY until the connection moves; reconnect
    // and resend so the write reaches the new master.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    keepAlive: 30_000,
    ...(tls ? { tls } : {}),
  };
}

/** Exponential back-off from 100 ms, capped at 10 s (as Tyk's reconnect), never giving up. */
function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS);
}

function sentinelOptions(storage: StorageConfig, nodeOptions: RedisOptions): RedisOptions {
  return {
    name: storage.master_name,
    sentinels: addressesOf(storage),
    sentinelPassword: storage.sentinel_password || undefined,
    db: storage.database || 0,
    sentinelRetryStrategy: reconnectDelay,
    // Without it, a sentinel that accepts the connection and never answers (a hung process, a black-holed
    // network) holds the lookup of the master, and so the reconnect, for ever.
    sentinelCommandTimeout: nodeOptions.connectTimeout,
    // Subscribe to +switch-master so a failover moves the connection at once, not at the next error.
    failoverDetector: true,
    // go-redis uses one TLS configuration for the sentinels and the master; do the same.
    enableTLSForSentinelMode: Boolean(nodeOptions.tls),
    ...(nodeOptions.tls ? { sentinelTLS: nodeOptions.tls } : {}),
  };
}

/**
 * A Sentinel client that ends only when Sluice closes it. ioredis' failover detector stays subscribed after
 * the connection it watched is lost; when its +switch-master notice then arrives while the client is
 * asking a sentinel for the new master, it cancels that lookup, and a cancelled connect ends an ioredis
 * client for good (ioredis 5.x; seen in the Sentinel test where the master is killed). The worker would
 * then claim nothing until restarted, so a client that ends without being closed connects again.
 */
class SentinelClient extends Redis {
  private closeRequested = false;
  private connectsAfterEnd = 0;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(options: RedisOptions) {
    super(options);
    this.on('ready', () => (this.connectsAfterEnd = 0));
    this.on('end', () => {
      if (this.closeRequested) return;
      this.connectsAfterEnd += 1;
      this.connectTimer = setTimeout(() => this.connectAgainUnlessClosed(), reconnectDelay(this.connectsAfterEnd));
      // Waiting to reconnect is no reason to keep the process alive.
      this.connectTimer.unref();
    });
  }

  /** Connecting again, as BullMQ does with its blocking copy after disconnecting it, makes it durable again. */
  override connect(callback?: Parameters<Redis['connect']>[0]): Promise<void> {
    this.closeRequested = false;
    return super.connect(callback);
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.requestClose();
    super.disconnect(reconnect);
  }

  override quit(callback?: Parameters<Redis['quit']>[0]): ReturnType<Redis['quit']> {
    this.requestClose();
    return super.quit(callback);
  }

  private requestClose(): void {
    this.closeRequested = true;
    clearTimeout(this.connectTimer);
  }

  /** BullMQ duplicates its connection for blocking waits; the copy must be as durable. */
  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new SentinelClient({ ...this.options, ...override });
  }

  private connectAgainUnlessClosed(): void {
    // A failed connect is also emitted as 'error', which reportErrors reports, and ends the client again,
    // which schedules the next attempt.
    if (this.status === 'end' && !this.closeRequested) this.connect().catch(() => undefined);
  }
}

function clusterOptions(nodeOptions: RedisOptions, opts: RedisClientOptions): ClusterOptions {
  // Cluster has a single database; go-redis ignores `database` there, and SELECT would fail every node.
  const { retryStrategy: _nodeRetry, enableOfflineQueue: _queue, lazyConnect: _lazy, ...redisOptions } = nodeOptions;
  return {
    redisOptions,
    lazyConnect: opts.lazy ?? false,
    scaleReads: 'master',
    enableOfflineQueue: true,
    clusterRetryStrategy: reconnectDelay,
    // A node that drops is not reconnected (ioredis' default): its commands fail with "Connection is closed",
    // which makes ioredis refresh the slot map and resend them to whichever node serves the slot by then.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    // Enough redirections to ride through a failover election (a few seconds at retryDelayOnFailover).
    maxRedirections: 32,
  };
}

// ── addresses ───────────────────────────────────────────────────────────────────────────────────────────

/**
 * The addresses Tyk would use: `addrs`, else the deprecated `hosts` map, else `host`/`port`.
 * Tyk falls back to localhost:6379 when `port` is 0; Sluice keeps `host` and uses port 6379 instead, as a
 * user who names a host means that host.
 */
export function addressesOf(storage: StorageConfig): Address[] {
  if (storage.addrs?.length) return storage.addrs.map((addr) => parseAddress(addr, 'addrs'));
  const hosts = Object.entries(storage.hosts ?? {});
  if (hosts.length) return hosts.map(([host, port]) => parseAddress(`${host}:${port}`, 'hosts'));
  return [{ host: storage.host || '127.0.0.1', port: storage.port || DEFAULT_REDIS_PORT }];
}

function parseAddress(text: string, setting: string): Address {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new RedisConfigError(`analytics_storage_config.${setting}: "${text}" is not host:port`, setting);
  }
  return { host: match[1], port };
}

/** Where Sluice connects, for logs and errors: topology, addresses, database, TLS and user, no secrets. */
export function describeRedisTarget(storage: StorageConfig): string {
  const topology = topologyOf(storage);
  let addrs: string;
  try {
    addrs = addressesOf(storage).map(({ host, port }) => `${host}:${port}`).join(',');
  } catch {
    addrs = '(invalid address)';
  }
  const parts = [
    topology === 'sentinel' ? `sentinel master "${storage.master_name}" via ${addrs}` : `${topology} ${addrs}`,
  ];
  if (topology !== 'cluster' && storage.database) parts.push(`db ${storage.database}`);
  if (tlsEnabled(storage)) parts.push(tlsSkipVerify(storage) ? 'TLS (verification off)' : 'TLS');
  if (storage.username) parts.push(`user "${storage.username}"`);
  return `Redis ${parts.join(', ')}`;
}

// ── TLS ─────────────────────────────────────────────────────────────────────────────────────────────────

const TLS_VERSIONS: Record<string, SecureVersion> = {
  '1.0': 'TLSv1',
  '1.1': 'TLSv1.1',
  '1.2': 'TLSv1.2',
  '1.3': 'TLSv1.3',
};
const TLS_ORDER = ['1.0', '1.1', '1.2', '1.3'];

function tlsEnabled(storage: StorageConfig): boolean {
  return Boolean(storage.use_ssl || storage.redis_use_ssl);
}

function tlsSkipVerify(storage: StorageConfig): boolean {
  return Boolean(storage.ssl_insecure_skip_verify || storage.redis_ssl_insecure_skip_verify);
}

/** Node TLS options from the `ssl_*` keys, or undefined when TLS is off. Throws RedisConfigError. */
export function tlsOptions(storage: StorageConfig): ConnectionOptions | undefined {
  if (!tlsEnabled(storage)) return undefined;
  const { minVersion, maxVersion } = tlsVersionRange(storage);
  const options: ConnectionOptions = { rejectUnauthorized: !tlsSkipVerify(storage), minVersion, maxVersion };
  if (storage.ssl_ca_file) options.ca = readCaBundle(storage.ssl_ca_file);
  const clientCert = readClientCertificate(storage);
  return clientCert ? { ...options, ...clientCert } : options;
}

function tlsVersionRange(storage: StorageConfig): { minVersion: SecureVersion; maxVersion: SecureVersion } {
  const min = storage.ssl_min_version || '1.2';
  const max = storage.ssl_max_version || '1.3';
  const minVersion = TLS_VERSIONS[min];
  const maxVersion = TLS_VERSIONS[max];
  if (!minVersion) throw unknownTlsVersion('ssl_min_version', min);
  if (!maxVersion) throw unknownTlsVersion('ssl_max_version', max);
  if (TLS_ORDER.indexOf(min) > TLS_ORDER.indexOf(max)) {
    throw new RedisConfigError(
      `analytics_storage_config.ssl_min_version "${min}" is above ssl_max_version "${max}"`,
      'ssl_min_version',
      { ssl_max_version: max },
    );
  }
  return { minVersion, maxVersion };
}

function unknownTlsVersion(setting: string, value: string): RedisConfigError {
  return new RedisConfigError(
    `analytics_storage_config.${setting} "${value}" is not one of ${TLS_ORDER.map((v) => `"${v}"`).join(', ')}`,
    setting,
  );
}

function readSettingFile(setting: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new RedisConfigError(
      `analytics_storage_config.${setting}: cannot read "${path}": ${errorMessage(err)}`,
      setting,
      { path },
      err,
    );
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Like Go's AppendCertsFromPEM, a CA file without one parseable certificate is an error, not an empty trust. */
function readCaBundle(path: string): string {
  const pem = readSettingFile('ssl_ca_file', path);
  const certificates = pem.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) {
    throw new RedisConfigError(`analytics_storage_config.ssl_ca_file: "${path}" holds no PEM certificate`, 'ssl_ca_file', { path });
  }
  for (const certificate of certificates) {
    try {
      new X509Certificate(certificate);
    } catch (err) {
      throw new RedisConfigError(
        `analytics_storage_config.ssl_ca_file: "${path}" holds a certificate that does not parse: ${errorMessage(err)}`,
        'ssl_ca_file',
        { path },
        err,
      );
    }
  }
  return pem;
}

function readClientCertificate(storage: StorageConfig): { cert: string; key: string } | undefined {
  const { ssl_cert_file: certFile, ssl_key_file: keyFile } = storage;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    const missing = certFile ? 'ssl_key_file' : 'ssl_cert_file';
    throw new RedisConfigError(
      `analytics_storage_config.${missing} is empty: a client certificate needs both ssl_cert_file and ssl_key_file`,
      missing,
    );
  }
  return { cert: readSettingFile('ssl_cert_file', certFile), key: readSettingFile('ssl_key_file', keyFile) };
}

// ── explaining failures ─────────────────────────────────────────────────────────────────────────────────

interface Diagnosis {
  settings: string[];
  hint: string;
}

const CERT_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT']);

/** The address settings this configuration actually uses. */
function addressSettings(storage: StorageConfig): string[] {
  if (storage.addrs?.length) return ['addrs'];
  if (Object.keys(storage.hosts ?? {}).length) return ['hosts'];
  return ['host', 'port'];
}

/** Every error in the chain: ioredis wraps node failures in `lastNodeError`, Sluice in `cause`. */
function errorChain(err: unknown): Array<Error & { code?: string }> {
  const chain: Array<Error & { code?: string }> = [];
  let current: unknown = err;
  while (current instanceof Error && chain.length < 5) {
    chain.push(current);
    const next = current as Error & { lastNodeError?: unknown };
    current = next.lastNodeError ?? next.cause;
  }
  return chain;
}

function diagnose(err: unknown, storage: StorageConfig): Diagnosis {
  const chain = errorChain(err);
  const text = chain.map((e) => `${e.code ?? ''} ${e.message}`).join(' | ');
  const codes = new Set(chain.map((e) => e.code ?? ''));
  const has = (pattern: RegExp) => pattern.test(text);
  const sentinel = topologyOf(storage) === 'sentinel';
  const tls = tlsEnabled(storage);

  if ([...codes].some((code) => CERT_VERIFY_CODES.has(code)) || has(/certificate (verify|has expired)|self[- ]signed|issuer certificate|altnames/i)) {
    return { settings: ['ssl_ca_file', 'ssl_insecure_skip_verify'], hint: 'the server certificate is not trusted' };
  }
  if (has(/protocol version|unsupported protocol|no protocols available|TLSV1_ALERT_PROTOCOL_VERSION/i)) {
    return { settings: ['ssl_min_version', 'ssl_max_version'], hint: 'client and server share no TLS version' };
  }
  if (has(/certificate required|ALERT_CERTIFICATE_REQUIRED|bad certificate|ALERT_UNKNOWN_CA|handshake failure/i)) {
    return { settings: ['ssl_cert_file', 'ssl_key_file'], hint: 'the server refused the client certificate' };
  }
  if (has(/wrong version number|packet length too long|record layer failure/i)) {
    return { settings: ['use_ssl', ...addressSettings(storage)], hint: 'the server does not speak TLS on this port' };
  }
  if (has(/WRONGPASS|NOAUTH|invalid (username-)?password|without any password configured|AUTH failed/i)) {
    const sentinelAuth = sentinel && has(/sentinel/i);
    return sentinelAuth
      ? { settings: ['sentinel_password'], hint: 'a sentinel refused the credentials' }
      : { settings: ['password', 'username'], hint: 'Redis refused the credentials' };
  }
  if (has(/NOPERM/)) {
    return { settings: ['username'], hint: 'the ACL user may not run a command Sluice needs' };
  }
  if (has(/DB index is out of range|SELECT is not allowed/i)) {
    return { settings: ['database'], hint: 'the database index is not available' };
  }
  if (has(/cluster support disabled/i)) {
    return { settings: ['enable_cluster'], hint: 'the server is not a Redis Cluster node' };
  }
  if (sentinel && has(/All sentinels are unreachable|failed to connect to sentinel|invalid reply/i)) {
    return { settings: ['addrs', 'master_name', 'sentinel_password'], hint: 'no sentinel gave the address of the master' };
  }
  if (has(/connect ETIMEDOUT/)) {
    // A TLS client talking to a plain port waits for a handshake answer that never comes, so it ends here.
    return tls
      ? { settings: [...addressSettings(storage), 'use_ssl', 'timeout'], hint: 'no TLS handshake within the timeout (is TLS on for this port?)' }
      : { settings: [...addressSettings(storage), 'timeout'], hint: 'Redis did not accept the connection within the timeout' };
  }
  if ([...codes].some((code) => UNREACHABLE_CODES.has(code)) || has(/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|connect ETIMEDOUT|startup nodes|refresh slots cache/i)) {
    return { settings: addressSettings(storage), hint: 'Redis is unreachable' };
  }
  if (has(/Command timed out/i)) {
    return { settings: ['timeout', ...addressSettings(storage)], hint: `Redis did not answer within the timeout` };
  }
  if (has(/ECONNRESET|EPIPE|Connection is closed|socket hang up/i)) {
    // With TLS 1.3 the client finishes its handshake before the server checks the client certificate, so
    // a server that requires one and gets none simply resets the connection.
    const noClientCert = tls && !storage.ssl_cert_file;
    return noClientCert
      ? { settings: ['ssl_cert_file', 'ssl_key_file', ...addressSettings(storage)], hint: 'Redis closed the connection after the TLS handshake (does it require a client certificate?)' }
      : { settings: [...addressSettings(storage), 'use_ssl'], hint: 'Redis closed the connection' };
  }
  return { settings: [], hint: 'Redis failed' };
}

/** Turns any Redis failure into a RedisConnectionError whose message names the settings to check. */
export function explainRedisError(err: unknown, storage: StorageConfig): RedisConnectionError {
  if (err instanceof RedisConnectionError) return err;
  const { settings, hint } = diagnose(err, storage);
  const target = describeRedisTarget(storage);
  const check = settings.length
    ? `check analytics_storage_config.${settings.join(' / ')}`
    : 'check analytics_storage_config';
  return new RedisConnectionError(`${target}: ${hint}; ${check} (${errorMessage(err)})`, settings, { target }, err);
}

// ── watching a client ───────────────────────────────────────────────────────────────────────────────────

function writeToStderr(error: RedisConnectionError): void {
  process.stderr.write(`[sluice] ${error.message}\n`);
}

/** The last failure of each client made by createRedisClient, until it is ready again. */
const lastFailures = new WeakMap<RedisClient, RedisConnectionError>();

/** Why the client is not connected right now, explained; undefined once it is ready. */
export function lastRedisError(client: RedisClient): RedisConnectionError | undefined {
  return lastFailures.get(client);
}

/**
 * Listens to every error event ioredis has, so none is unhandled (an unhandled 'error' would end the
 * process), and reports each kind once until the connection is ready again: a retry every few seconds
 * during an outage would otherwise flood the log.
 */
function reportErrors(client: RedisClient, storage: StorageConfig, onError: (error: RedisConnectionError) => void): void {
  let lastReported = '';
  const report = (err: unknown) => {
    const explained = explainRedisError(err, storage);
    lastFailures.set(client, explained);
    const kind = explained.settings.join(',') + errorMessage(err).replace(/\d+ms/g, '');
    if (kind === lastReported) return;
    lastReported = kind;
    onError(explained);
  };
  client.on('error', report);
  client.on('node error', report);
  client.on('ready', () => {
    lastReported = '';
    lastFailures.delete(client);
  });
}

/**
 * Resolves when a client from createRedisClient is ready. Otherwise, after `timeoutMs`, rejects with its
 * last connection failure, explained; the client keeps retrying in the background, so a caller may wait again.
 */
export function waitUntilReady(client: RedisClient, storage: StorageConfig, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      const notReady = new Error(`not ready within ${timeoutMs} ms (status ${client.status})`);
      reject(lastRedisError(client) ?? explainRedisError(notReady, storage));
    }, timeoutMs);
    client.once('ready', onReady);
    // A lazy client connects on its first command; waiting for it is a reason to connect now.
    if (client.status === 'wait') client.connect().catch(() => undefined);
  });
}
