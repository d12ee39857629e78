import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis, type RedisOptions } from 'ioredis';
import type { StorageConfig } from '../../src/config/types.js';

/*
 * Real redis-server processes for tests: standalone (plain, ACL, TLS, mTLS), Sentinel and Cluster. Every
 * deployment gets fresh ports chosen at run time and its own temp dir, keeps nothing on disk, and is
 * killed by stop(). Nothing is shared between deployments, so any number of test files can start their
 * own at the same time.
 */

const run = promisify(execFile);

const START_TIMEOUT_MS = 10_000;
const POLL_MS = 50;

// ── processes ───────────────────────────────────────────────────────────────────────────────────────────

/**
 * Children still running, killed if the test process exits without stop() (a crash or a failed hook):
 * an orphaned redis-server would hold its port and temp dir for good.
 */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export class RedisHarnessError extends Error {
  constructor(message: string, readonly log = '') {
    super(log ? `${message}\n--- server log (tail) ---\n${log.slice(-2000)}` : message);
    this.name = 'RedisHarnessError';
  }
}

/** One redis-server (or sentinel) process. */
export interface RedisProcess {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly dir: string;
  /** Everything the server wrote so far. */
  log(): string;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps accepting connections (the kernel does) and answers nothing until SIGCONT. */
  freeze(): void;
  thaw(): void;
}

interface LaunchSpec {
  label: string;
  /** How many ports the process needs (a cluster node also needs its bus port). */
  ports: number;
  /** Command-line arguments for these ports; may write config files into dir. */
  args: (ports: number[], dir: string) => string[];
  /** Connection options for the readiness check, e.g. TLS or credentials. */
  connectOptions?: Partial<RedisOptions>;
  /** Start on these ports in this directory (a restart), instead of fresh ones. */
  reuse?: { ports: number[]; dir: string };
}

export function makeTempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `sluice-${label}-`));
}

/** Ports free right now; the caller binds them at once, and a lost race is retried by launch(). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Server>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * Arguments every server shares: loopback only, nothing persisted, log to stdout, and replicas synced at
 * once (the default diskless sync waits 5 s for more replicas to join).
 */
export function baseServerArgs(dir: string): string[] {
  return [
    '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', '', '--daemonize', 'no',
    '--repl-diskless-sync-delay', '0',
  ];
}

/** Starts a process and waits until it answers; retries on fresh ports if another process took one. */
async function launch(spec: LaunchSpec): Promise<RedisProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await launchOnce(spec);
    } catch (err) {
      lastError = err;
      if (!(err instanceof RedisHarnessError && /Address already in use/i.test(err.message))) throw err;
    }
  }
  throw lastError;
}

async function launchOnce(spec: LaunchSpec): Promise<RedisProcess> {
  const dir = spec.reuse?.dir ?? makeTempDir(spec.label);
  const ports = spec.reuse?.ports ?? (await freePorts(spec.ports));
  const port = ports[0]!;
  const child = spawn('redis-server', spec.args(ports, dir), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => liveChildren.delete(child));

  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const signal = (name: NodeJS.Signals) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
  };
  const proc: RedisProcess = {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    dir,
    log: () => output,
    kill,
    freeze: signal('SIGSTOP'),
    thaw: signal('SIGCONT'),
  };
  try {
    await waitFor(`${spec.label} on port ${port} to answer`, START_TIMEOUT_MS, async () => {
      if (spawnError) throw new RedisHarnessError(`cannot start redis-server: ${spawnError.message}`);
      if (child.exitCode !== null) throw new RedisHarnessError(`${spec.label} exited with code ${child.exitCode}`, output);
      // The pid check catches a lost port race where another test's server answers on this port.
      return (await serverPid(port, spec.connectOptions)) === child.pid;
    });
    return proc;
  } catch (err) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw err instanceof RedisHarnessError ? err : new RedisHarnessError(String(err), output);
  }
}

async function serverPid(port: number, options: Partial<RedisOptions> = {}): Promise<number | undefined> {
  const client = adminClient(port, options);
  try {
    await client.connect();
    const info = String(await client.call('INFO', 'server'));
    return Number(/process_id:(\d+)/.exec(info)?.[1]);
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** A throwaway connection that fails fast instead of retrying, for setup and checks. */
function adminClient(port: number, options: Partial<RedisOptions> = {}): Redis {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 2000,
    ...options,
  });
  client.on('error', () => undefined);
  return client;
}

/** Runs one command on a server and closes the connection. */
export async function adminCommand(port: number, args: Array<string | number>, options?: Partial<RedisOptions>): Promise<unknown> {
  const client = adminClient(port, options);
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    client.disconnect();
  }
}

/** Polls `check` until it returns true; a thrown RedisHarnessError ends the wait at once. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof RedisHarnessError) throw err;
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new RedisHarnessError(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/** Starts every launch at once; if any fails, stops the ones that started. */
async function launchAll(specs: LaunchSpec[]): Promise<RedisProcess[]> {
  const results = await Promise.allSettled(specs.map(launch));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await stopAll(started);
    throw failure.reason;
  }
  return started;
}

async function stopAll(processes: RedisProcess[], extraDirs: string[] = []): Promise<void> {
  await Promise.all(processes.map((p) => p.kill()));
  for (const dir of [...processes.map((p) => p.dir), ...extraDirs]) rmSync(dir, { recursive: true, force: true });
}

// ── StorageConfig ───────────────────────────────────────────────────────────────────────────────────────

/** A complete StorageConfig with Tyk's defaults, overridden by `fragment`. */
export function storageConfig(fragment: Partial<StorageConfig> = {}): StorageConfig {
  return {
    type: 'redis',
    host: '',
    port: 0,
    addrs: [],
    hosts: {},
    master_name: '',
    sentinel_password: '',
    username: '',
    password: '',
    database: 0,
    timeout: 5,
    optimisation_max_idle: 100,
    optimisation_max_active: 500,
    enable_cluster: false,
    key_prefix: 'analytics-',
    redis_key_prefix: '',
    use_ssl: false,
    redis_use_ssl: false,
    ssl_insecure_skip_verify: false,
    redis_ssl_insecure_skip_verify: false,
    ssl_ca_file: '',
    ssl_cert_file: '',
    ssl_key_file: '',
    ssl_min_version: '1.2',
    ssl_max_version: '1.3',
    ...fragment,
  };
}

/** What every start* function returns. */
export interface RedisDeployment {
  /** `host:port` of every process, data nodes first. */
  readonly addresses: string[];
  /** The `analytics_storage_config` keys that point Sluice here; pass through storageConfig(). */
  readonly storage: Partial<StorageConfig>;
  stop(): Promise<void>;
}

// ── standalone ──────────────────────────────────────────────────────────────────────────────────────────

export interface StandaloneRedis extends RedisDeployment {
  readonly server: RedisProcess;
}

export interface RestartableRedis extends StandaloneRedis {
  /** SIGKILL, then the server again on the same port and directory; data survives only with `appendOnly`. */
  restart(): Promise<void>;
}

export interface StandaloneOptions {
  /** Turns the default user off and creates this ACL user with every permission. */
  acl?: { username: string; password: string };
  /** Every write fsynced to an append-only file before it is acknowledged, so a restart loses nothing. */
  appendOnly?: boolean;
}

export async function startStandalone(options: StandaloneOptions = {}): Promise<RestartableRedis> {
  const acl = options.acl;
  const aclArgs = acl ? ['--user', 'default', 'off', '--user', acl.username, 'on', `>${acl.password}`, '~*', '&*', '+@all'] : [];
  // Later arguments override baseServerArgs' `--appendonly no`.
  const persistenceArgs = options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [];
  const spec: LaunchSpec = {
    label: acl ? 'redis-acl' : 'redis',
    ports: 1,
    args: ([port], dir) => [...baseServerArgs(dir), '--port', String(port), ...aclArgs, ...persistenceArgs],
    connectOptions: acl ? { username: acl.username, password: acl.password } : {},
  };
  let server = await launch(spec);
  const storage: Partial<StorageConfig> = { host: server.host, port: server.port, ...(acl ?? {}) };
  return {
    // A new process after restart().
    get server() {
      return server;
    },
    addresses: [server.address],
    storage,
    async restart() {
      await server.kill();
      server = await launchOnce({ ...spec, reuse: { ports: [server.port], dir: server.dir } });
    },
    stop: () => stopAll([server]),
  };
}

// ── TLS ─────────────────────────────────────────────────────────────────────────────────────────────────

/** PEM files made at test time: a CA, a server certificate for 127.0.0.1/localhost, a client certificate. */
export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A second CA that signed nothing here: trusting it alone must fail verification. */
  readonly otherCaFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=Sluice test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function makeLeaf(dir: string, name: string, extensions: string): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  await openssl(dir, ['req', '-new', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=sluice-${name}`]);
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`,
  ]);
}

/** Elliptic-curve keys keep generation to a few tens of milliseconds. */
export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = makeTempDir('certs');
  try {
    await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')]);
    // Both leaves use ca.srl (-CAcreateserial), so they are signed one after the other.
    await makeLeaf(dir, 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    await makeLeaf(dir, 'client', 'extendedKeyUsage=clientAuth\n');
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new RedisHarnessError(`openssl failed: ${(err as Error).message}`);
  }
  const file = (name: string) => join(dir, name);
  return {
    dir,
    caFile: file('ca.crt'),
    serverCertFile: file('server.crt'),
    serverKeyFile: file('server.key'),
    clientCertFile: file('client.crt'),
    clientKeyFile: file('client.key'),
    otherCaFile: file('other-ca.crt'),
  };
}

export interface TlsOptions {
  /** Require a client certificate signed by the test CA (mTLS). */
  requireClientCert?: boolean;
  /** TLS versions the server accepts, e.g. ['TLSv1.3']; default 1.2 and 1.3. */
  protocols?: Array<'TLSv1.2' | 'TLSv1.3'>;
  /** Reuse certificates (and their CA) from another deployment; otherwise new ones are made and removed on stop. */
  certificates?: TestCertificates;
}

export interface TlsRedis extends StandaloneRedis {
  readonly certificates: TestCertificates;
}

/** A TLS-only standalone server (the plain port is off). The storage fragment trusts the test CA. */
export async function startTls(options: TlsOptions = {}): Promise<TlsRedis> {
  const ownCertificates = !options.certificates;
  const certificates = options.certificates ?? (await createTestCertificates());
  const protocols = (options.protocols ?? ['TLSv1.2', 'TLSv1.3']).join(' ');
  const clientTls = { ca: certificates.caFile, cert: certificates.clientCertFile, key: certificates.clientKeyFile };
  let server: RedisProcess;
  try {
    server = await launch({
      label: options.requireClientCert ? 'redis-mtls' : 'redis-tls',
      ports: 1,
      args: ([port], dir) => [
        ...baseServerArgs(dir), '--port', '0', '--tls-port', String(port),
        '--tls-cert-file', certificates.serverCertFile, '--tls-key-file', certificates.serverKeyFile,
        '--tls-ca-cert-file', certificates.caFile, '--tls-auth-clients', options.requireClientCert ? 'yes' : 'no',
        '--tls-protocols', protocols,
      ],
      connectOptions: { tls: await readTlsFiles(clientTls) },
    });
  } catch (err) {
    if (ownCertificates) rmSync(certificates.dir, { recursive: true, force: true });
    throw err;
  }
  const storage: Partial<StorageConfig> = {
    host: server.host,
    port: server.port,
    use_ssl: true,
    ssl_ca_file: certificates.caFile,
    ...(options.requireClientCert ? { ssl_cert_file: certificates.clientCertFile, ssl_key_file: certificates.clientKeyFile } : {}),
  };
  const extraDirs = ownCertificates ? [certificates.dir] : [];
  return { server, certificates, addresses: [server.address], storage, stop: () => stopAll([server], extraDirs) };
}

async function readTlsFiles(files: { ca: string; cert: string; key: string }): Promise<RedisOptions['tls']> {
  const [ca, cert, key] = await Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]);
  return { ca, cert, key };
}

// ── Sentinel ────────────────────────────────────────────────────────────────────────────────────────────

export interface SentinelRedis extends RedisDeployment {
  readonly masterName: string;
  /** `host:port` of the three sentinels (what Sluice puts in `addrs`). */
  readonly sentinels: string[];
  /** The master as the sentinels report it now. */
  masterAddress(): Promise<string>;
  /**
   * SENTINEL FAILOVER; resolves with the new master once every sentinel reports it, it takes writes, and the
   * old master replicates from it.
   */
  failover(): Promise<string>;
  /** SIGKILLs the current master; resolves with the new master once the sentinels have promoted one. */
  killMaster(): Promise<string>;
  /**
   * Freezes sentinel `index` (SIGSTOP) until the returned function thaws it. The others go on without it,
   * and this deployment's own checks ask only them.
   */
  freezeSentinel(index: number): () => void;
}

const MASTER_NAME = 'sluice-master';
const FAILOVER_TIMEOUT_MS = 20_000;

function sentinelConfig(port: number, masterPort: number, dir: string): string {
  return [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
    // Short timeouts so a killed master is replaced in a few seconds.
    `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
    `sentinel failover-timeout ${MASTER_NAME} 5000`,
    `sentinel parallel-syncs ${MASTER_NAME} 1`,
    '',
  ].join('\n');
}

/** One master, one replica and three sentinels (quorum 2) that already know each other and the replica. */
export async function startSentinel(): Promise<SentinelRedis> {
  const dataNodes: RedisProcess[] = [];
  const sentinels: RedisProcess[] = [];
  try {
    const master = await launch({ label: 'sentinel-master', ports: 1, args: ([port], dir) => [...baseServerArgs(dir), '--port', String(port)] });
    dataNodes.push(master);
    const replica = await launch({
      label: 'sentinel-replica',
      ports: 1,
      args: ([port], dir) => [...baseServerArgs(dir), '--port', String(port), '--replicaof', '127.0.0.1', String(master.port)],
    });
    dataNodes.push(replica);
    await waitFor('the replica to sync', START_TIMEOUT_MS, async () =>
      String(await adminCommand(replica.port, ['INFO', 'replication'])).includes('master_link_status:up'),
    );
    sentinels.push(...(await launchAll([0, 1, 2].map(() => sentinelSpec(master.port)))));
    await waitForSentinelsToMeet(sentinels);
  } catch (err) {
    await stopAll([...sentinels, ...dataNodes]);
    throw err;
  }
  return sentinelDeployment(dataNodes, sentinels);
}

function sentinelSpec(masterPort: number): LaunchSpec {
  return {
    label: 'sentinel',
    ports: 1,
    args: ([port], dir) => {
      // Sentinel rewrites its config file, so each gets its own, in its own dir.
      const file = join(dir, 'sentinel.conf');
      writeFileSync(file, sentinelConfig(port!, masterPort, dir));
      return [file, '--sentinel', '--logfile', ''];
    },
  };
}

/** A failover needs every sentinel to know the replica and the two other sentinels. */
async function waitForSentinelsToMeet(sentinels: RedisProcess[]): Promise<void> {
  await waitFor('the sentinels to discover the replica and each other', START_TIMEOUT_MS, async () => {
    for (const sentinel of sentinels) {
      const replicas = (await adminCommand(sentinel.port, ['SENTINEL', 'REPLICAS', MASTER_NAME])) as unknown[];
      const peers = (await adminCommand(sentinel.port, ['SENTINEL', 'SENTINELS', MASTER_NAME])) as unknown[];
      if (replicas.length < 1 || peers.length < sentinels.length - 1) return false;
    }
    return true;
  });
}

function sentinelDeployment(dataNodes: RedisProcess[], sentinels: RedisProcess[]): SentinelRedis {
  const sentinelAddresses = sentinels.map((s) => s.address);
  const frozen = new Set<RedisProcess>();
  const answering = () => sentinels.filter((s) => !frozen.has(s));

  const masterAddress = async (): Promise<string> => {
    const [host, port] = (await adminCommand(answering()[0]!.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME])) as string[];
    return `${host}:${port}`;
  };

  const waitForNewMaster = async (previous: string): Promise<string> => {
    let current = previous;
    await waitFor(`the sentinels to replace master ${previous}`, FAILOVER_TIMEOUT_MS, async () => {
      const reported = await Promise.all(
        answering().map(async (s) => {
          const [host, port] = (await adminCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME])) as string[];
          return `${host}:${port}`;
        }),
      );
      current = reported[0]!;
      if (current === previous || reported.some((r) => r !== current)) return false;
      const role = (await adminCommand(portOf(current), ['ROLE'])) as unknown[];
      return role[0] === 'master';
    });
    return current;
  };

  return {
    masterName: MASTER_NAME,
    sentinels: sentinelAddresses,
    addresses: [...dataNodes.map((n) => n.address), ...sentinelAddresses],
    storage: { master_name: MASTER_NAME, addrs: sentinelAddresses },
    masterAddress,
    async failover() {
      const previous = await masterAddress();
      await adminCommand(answering()[0]!.port, ['SENTINEL', 'FAILOVER', MASTER_NAME]);
      const current = await waitForNewMaster(previous);
      await attachAsReplica(previous, current);
      return current;
    },
    async killMaster() {
      const previous = await masterAddress();
      const master = dataNodes.find((n) => n.address === previous);
      if (!master) throw new RedisHarnessError(`master ${previous} is not one of this deployment's servers`);
      await master.kill();
      return waitForNewMaster(previous);
    },
    freezeSentinel(index) {
      const sentinel = sentinels[index];
      if (!sentinel) throw new RedisHarnessError(`there is no sentinel ${index}`);
      sentinel.freeze();
      frozen.add(sentinel);
      return () => {
        frozen.delete(sentinel);
        sentinel.thaw();
      };
    },
    stop: () => stopAll([...sentinels, ...dataNodes]),
  };
}

/**
 * Makes the old master a synced replica of the new one. Sentinel does this itself, but only several
 * seconds after it sees the old master still claiming the role; until then a second failover would
 * promote a node without the latest writes.
 */
async function attachAsReplica(oldMaster: string, newMaster: string): Promise<void> {
  const [host, port] = [newMaster.slice(0, newMaster.lastIndexOf(':')), String(portOf(newMaster))];
  await adminCommand(portOf(oldMaster), ['REPLICAOF', host, port]);
  await waitFor(`${oldMaster} to sync from ${newMaster}`, FAILOVER_TIMEOUT_MS, async () => {
    const role = (await adminCommand(portOf(oldMaster), ['ROLE'])) as unknown[];
    return role[0] === 'slave' && String(role[2]) === port && role[3] === 'connected';
  });
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

// ── Cluster ─────────────────────────────────────────────────────────────────────────────────────────────

export interface ClusterRedis extends RedisDeployment {
  readonly nodes: RedisProcess[];
  /** The master serving `key`'s slot now. */
  masterFor(key: string): Promise<string>;
  /**
   * CLUSTER FAILOVER on the replica of `key`'s master: a graceful swap, after which the old master answers
   * MOVED for the slot. Resolves once the replica serves it and the cluster is ok.
   */
  failoverMasterOf(key: string): Promise<{ demoted: string; promoted: string }>;
  /** SIGKILLs the master of `key`'s slot; resolves once its replica serves the slot and the cluster is ok. */
  killMasterOf(key: string): Promise<{ killed: string; promoted: string }>;
}

interface ClusterNodeLine {
  id: string;
  address: string;
  flags: string[];
  masterId: string;
  slots: Array<[number, number]>;
}

/** Parses CLUSTER NODES: `id ip:port@bus flags master ping pong epoch link slot…`. */
function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      return {
        id: id!,
        address: addr!.split('@')[0]!,
        flags: flags!.split(','),
        masterId: masterId!,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to] = s.split('-').map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

const CLUSTER_NODE_TIMEOUT_MS = 1000;

/** Three masters and three replicas, created with `redis-cli --cluster create`, waited on until ok. */
export async function startCluster(): Promise<ClusterRedis> {
  const nodes = await launchAll(
    Array.from({ length: 6 }, (): LaunchSpec => ({
      label: 'cluster-node',
      ports: 2,
      args: ([port, busPort], dir) => [
        ...baseServerArgs(dir), '--port', String(port), '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
        '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
      ],
    })),
  );
  try {
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes']);
    await waitForClusterOk(nodes, true);
  } catch (err) {
    await stopAll(nodes);
    throw err instanceof RedisHarnessError ? err : new RedisHarnessError(`cluster create failed: ${(err as Error).message}`);
  }
  return clusterDeployment(nodes);
}

/** Every live node reports cluster_state:ok; on creation, also every replica has synced (so it can fail over). */
async function waitForClusterOk(nodes: RedisProcess[], replicasSynced: boolean): Promise<void> {
  await waitFor('cluster_state:ok on every node', FAILOVER_TIMEOUT_MS, async () => {
    for (const node of nodes) {
      if (!String(await adminCommand(node.port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok')) return false;
      if (!replicasSynced) continue;
      const replication = String(await adminCommand(node.port, ['INFO', 'replication']));
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
    }
    return true;
  });
}

function clusterDeployment(nodes: RedisProcess[]): ClusterRedis {
  const live = new Set(nodes);
  const anyLiveNode = () => [...live][0]!;

  const slotOwner = async (key: string) => {
    const slot = Number(await adminCommand(anyLiveNode().port, ['CLUSTER', 'KEYSLOT', key]));
    const table = parseClusterNodes(String(await adminCommand(anyLiveNode().port, ['CLUSTER', 'NODES'])));
    // During a failover the slot may have no healthy master for a moment: undefined, not an error.
    const owner = table.find((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.some(([a, b]) => slot >= a && slot <= b));
    const replica = owner && table.find((n) => n.masterId === owner.id && !n.flags.includes('fail'));
    return { slot, owner, replica };
  };

  const healthySlotOwner = async (key: string) => {
    const found = await slotOwner(key);
    if (!found.owner) throw new RedisHarnessError(`no master serves slot ${found.slot}`);
    return { ...found, owner: found.owner };
  };

  const waitForSlotOwner = async (key: string, slot: number, nodeId: string, address: string) => {
    await waitFor(`${address} to serve slot ${slot}`, FAILOVER_TIMEOUT_MS, async () => (await slotOwner(key)).owner?.id === nodeId);
    await waitForClusterOk([...live], false);
  };

  return {
    nodes,
    addresses: nodes.map((n) => n.address),
    storage: { enable_cluster: true, addrs: nodes.map((n) => n.address) },
    async masterFor(key) {
      return (await healthySlotOwner(key)).owner.address;
    },
    async failoverMasterOf(key) {
      const { slot, owner, replica } = await healthySlotOwner(key);
      if (!replica) throw new RedisHarnessError(`master ${owner.address} has no replica to promote`);
      await adminCommand(portOf(replica.address), ['CLUSTER', 'FAILOVER']);
      await waitForSlotOwner(key, slot, replica.id, replica.address);
      return { demoted: owner.address, promoted: replica.address };
    },
    async killMasterOf(key) {
      const { slot, owner, replica } = await healthySlotOwner(key);
      const victim = nodes.find((n) => n.address === owner.address);
      if (!replica || !victim) throw new RedisHarnessError(`master ${owner.address} has no replica to promote`);
      live.delete(victim);
      await victim.kill();
      await waitForSlotOwner(key, slot, replica.id, replica.address);
      return { killed: owner.address, promoted: replica.address };
    },
    stop: () => stopAll(nodes),
  };
}
