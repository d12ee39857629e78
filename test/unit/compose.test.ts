import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../src/assets.js';
import { loadConfig } from '../../src/config/load.js';
import type { PumpConfiguration } from '../../src/config/types.js';
import { binNodeFlags } from '../harness/sluice.js';

/*
 * docker-compose.yml read as data, since no Docker engine runs here: the services of the recommended
 * topology, how they wait for each other, and every Sluice config it mounts validated by loadConfig
 * (without connecting) and pointing only at services that run beside it.
 */

interface Service {
  image?: string;
  hostname?: string;
  build?: unknown;
  command?: string[];
  profiles?: string[];
  restart?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition?: string }>;
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const ROOT = packageRoot();
// Compose honours YAML merge keys (`<<`); the shared Sluice and Redis settings are written with them.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);
const CONFIG_TARGET = '/etc/sluice/pump.conf';

function service(name: string): Service {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

function namesIn(profile: string | undefined): string[] {
  return services.filter(([, s]) => s.profiles?.[0] === profile).map(([name]) => name).sort();
}

/** `source:target[:mode]` volume entries, split. */
function mounts(s: Service): Array<{ source: string; target: string }> {
  return (s.volumes ?? []).map((v) => {
    const [source, target] = v.split(':');
    return { source: source!, target: target! };
  });
}

function isSluice(s: Service): boolean {
  return s.image === service('sluice-1').image;
}

/** The host names a loaded config connects to: Redis and every pump's and the uptime pump's store. */
function hostsOf(config: PumpConfiguration): string[] {
  const storage = config.analytics_storage_config;
  const redisHosts = storage.addrs.length > 0 ? storage.addrs.map((a) => a.split(':')[0]!) : [storage.host];
  const urls = [
    ...config.pumps.map((p) => String(p.meta.connection_string ?? p.meta.mongo_url)),
    String(config.uptime_pump_config.connection_string || config.uptime_pump_config.mongo_url),
  ];
  return [...new Set([...redisHosts, ...urls.map((u) => new URL(u).hostname)])];
}

/** Services a service can see: those in no profile, plus those of its own profile. */
function visibleFrom(s: Service): Set<string> {
  return new Set(services.filter(([, other]) => !other.profiles || other.profiles.some((p) => s.profiles?.includes(p))).map(([name]) => name));
}

describe('docker-compose.yml: the recommended topology', () => {
  it('runs Redis, MongoDB, PostgreSQL, two Sluice nodes and demo traffic by default', () => {
    expect(namesIn(undefined)).toEqual(['demo-traffic', 'mongodb', 'postgres', 'redis', 'sluice-1', 'sluice-2']);
  });

  it('builds the Sluice image from the Dockerfile', () => {
    expect(service('sluice-1').build).toBe('.');
    expect(service('sluice-1').image).toBeTruthy();
  });

  it('has two Sluice nodes on one image and one config, each with its own health port', () => {
    const [one, two] = [service('sluice-1'), service('sluice-2')];
    expect(two.image).toBe(one.image);
    expect(mounts(two)).toEqual(mounts(one));
    expect(mounts(one)).toEqual([{ source: './config/compose/pump.conf', target: CONFIG_TARGET }]);
    expect(one.ports).not.toEqual(two.ports);
  });

  it('mounts every Sluice config where the image’s CMD reads it', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`CMD ["--conf", "${CONFIG_TARGET}"]`);
    for (const [, s] of services.filter(([name, s]) => isSluice(s) && name !== 'demo-traffic')) {
      expect(mounts(s).map((m) => m.target)).toContain(CONFIG_TARGET);
    }
  });

  it('generates demo traffic with the same image and the nodes’ config', () => {
    const demo = service('demo-traffic');
    expect(demo.image).toBe(service('sluice-1').image);
    expect(demo.command).toEqual(['demo', '--records', '100000']);
    expect(mounts(demo).map((m) => m.source)).toEqual(['./config/compose/pump.conf']);
    expect(demo.restart).toBe('no');
  });

  it('has a sentinel profile: one master, one replica, three sentinels and a Sluice node', () => {
    expect(namesIn('sentinel')).toEqual(['redis-master', 'redis-replica', 'redis-sentinel-1', 'redis-sentinel-2', 'redis-sentinel-3', 'sluice-sentinel']);
    expect(service('redis-replica').command).toEqual(expect.arrayContaining(['--replicaof', 'redis-master']));
    expect(mounts(service('sluice-sentinel'))[0]!.source).toBe('./config/compose/pump.sentinel.conf');
  });

  it('has a cluster profile: six nodes, a one-shot create and a Sluice node', () => {
    const nodes = [1, 2, 3, 4, 5, 6].map((n) => `redis-node-${n}`);
    expect(namesIn('cluster')).toEqual([...nodes, 'redis-cluster-create', 'sluice-cluster'].sort());
    for (const node of nodes) expect(service(node).hostname).toBe(node);
    expect(service('redis-cluster-create').restart).toBe('no');
    expect(mounts(service('sluice-cluster'))[0]!.source).toBe('./config/compose/pump.cluster.conf');
  });

  it('gives every long-running service a healthcheck', () => {
    const oneShots = services.filter(([, s]) => s.restart === 'no').map(([name]) => name).sort();
    expect(oneShots).toEqual(['demo-traffic', 'redis-cluster-create']);
    for (const [name, s] of services.filter(([, s]) => s.restart !== 'no')) {
      expect(s.healthcheck?.test?.[0], name).toBe('CMD');
    }
  });

  it('orders start-up by conditions on services that exist beside each dependant', () => {
    for (const [name, s] of services) {
      const visible = visibleFrom(s);
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(visible.has(dependency), `${name} → ${dependency}`).toBe(true);
        const target = service(dependency);
        if (target.restart === 'no') expect(condition, `${name} → ${dependency}`).toBe('service_completed_successfully');
        else expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
      }
    }
  });

  it('starts Sluice only after Redis and both stores are healthy', () => {
    for (const name of ['sluice-1', 'sluice-2']) {
      expect(Object.keys(service(name).depends_on ?? {}).sort()).toEqual(['mongodb', 'postgres', 'redis']);
    }
  });

  it('keeps data in named volumes, each declared and used', () => {
    const named = services.flatMap(([, s]) => mounts(s)).map((m) => m.source).filter((source) => !source.startsWith('.') && !source.startsWith('/'));
    expect([...new Set(named)].sort()).toEqual(Object.keys(compose.volumes).sort());
    expect(named.sort()).toEqual(['mongo-data', 'postgres-data', 'redis-data']);
  });
});

describe('the Sluice configs compose mounts', () => {
  const mounted = services.flatMap(([name, s]) => (isSluice(s) ? mounts(s).map((m) => ({ name, service: s, file: m.source })) : []));

  it('are every file in config/compose/', () => {
    const files = readdirSync(join(ROOT, 'config', 'compose')).filter((f) => f.endsWith('.conf')).map((f) => `./config/compose/${f}`);
    expect([...new Set(mounted.map((m) => m.file))].sort()).toEqual(files.sort());
  });

  it.each(mounted)('$name: $file passes loadConfig and connects only to services beside it', ({ service: s, file }) => {
    const { config } = loadConfig({ path: join(ROOT, file), env: s.environment ?? {} });
    const visible = visibleFrom(s);
    for (const host of hostsOf(config)) expect(visible.has(host), `${file} connects to ${host}`).toBe(true);
  });

  it('drain one Redis into the sql, sql_aggregate, mongo and mongo-pump-aggregate pumps with an SQL uptime pump', () => {
    const { config } = loadConfig({ path: join(ROOT, 'config/compose/pump.conf'), env: {} });
    expect(config.pumps.map((p) => p.type).sort()).toEqual(['mongo', 'mongo-pump-aggregate', 'sql', 'sql_aggregate']);
    expect(config.uptime_pump_config.uptime_type).toBe('sql');
    expect(config.dont_purge_uptime_data).toBe(false);
  });

  it('name the Sentinel master and the Cluster seed nodes', () => {
    const sentinel = loadConfig({ path: join(ROOT, 'config/compose/pump.sentinel.conf'), env: {} }).config.analytics_storage_config;
    expect(sentinel.master_name).toBe('mymaster');
    expect(sentinel.addrs).toHaveLength(3);
    const cluster = loadConfig({ path: join(ROOT, 'config/compose/pump.cluster.conf'), env: {} }).config.analytics_storage_config;
    expect(cluster.enable_cluster).toBe(true);
    expect(cluster.addrs).toHaveLength(6);
  });

  it('the sentinel master name is the one the sentinels monitor', () => {
    const script = service('redis-sentinel-1').command!.join('\n');
    expect(script).toContain('sentinel monitor mymaster redis-master 6379 2');
  });
});

describe('launch flags', () => {
  it('the Dockerfile and `npm start` give node the flags the sluice bin sets', () => {
    const root = packageRoot();
    const flags = binNodeFlags();
    expect(flags.length).toBeGreaterThan(0);
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))![1]!;
    expect(JSON.parse(entrypoint)).toEqual(['node', ...flags, 'dist/src/cli/main.js']);
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    expect(start).toContain(`node ${flags.join(' ')} dist/src/cli/main.js`);
  });
});
