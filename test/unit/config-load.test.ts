import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigProblem } from '../../src/config/config-error.js';
import type { Env } from '../../src/config/env.js';
import { encodeThreadsFor, loadConfig, type LoadedConfig } from '../../src/config/load.js';
import type { PumpConfig } from '../../src/config/types.js';

/*
 * loadConfig as a pure function of a file and an env object: Tyk's keys, defaults and TYK_PMP_* names
 * (reference §2.3–2.5, §2.9), the config cases of §9.1, and one test per kind of configuration error,
 * each asserting the key path the operator is told about.
 */

type Json = Record<string, unknown>;

const SQL_META = { type: 'postgres', connection_string: 'host=127.0.0.1 dbname=test' };
const MONGO_META = { mongo_url: 'mongodb://127.0.0.1/tyk_analytics', collection_name: 'tyk_analytics' };

/** The smallest file that loads: one sql pump, no uptime pump to configure. */
function minimalConfig(extra: Json = {}): Json {
  return { dont_purge_uptime_data: true, pumps: { sql: { type: 'sql', meta: SQL_META } }, ...extra };
}

function writeConf(content: Json | string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-config-')), 'pump.conf');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function load(content: Json | string, env: Env = {}): LoadedConfig {
  return loadConfig({ path: writeConf(content), env });
}

/** The problems a ConfigError lists; fails the test if loading succeeds or throws anything else. */
function problemsOf(attempt: () => unknown): readonly ConfigProblem[] {
  try {
    attempt();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

function onlyProblem(attempt: () => unknown): ConfigProblem {
  const problems = problemsOf(attempt);
  expect(problems).toHaveLength(1);
  return problems[0]!;
}

function pump(loaded: LoadedConfig, name: string): PumpConfig {
  const found = loaded.config.pumps.find((p) => p.name === name);
  if (!found) throw new Error(`no pump ${name}; pumps are ${loaded.config.pumps.map((p) => p.name).join(', ')}`);
  return found;
}

describe('defaults are Tyk Pump’s', () => {
  const { config } = load(minimalConfig());

  it('fills the top level', () => {
    expect(config).toMatchObject({
      analytics_storage_type: 'redis', purge_chunk: 0, storage_expiration_time: 60, log_level: 'info',
      health_check_endpoint_name: 'health', health_check_endpoint_port: 8083, enable_http_profiler: false,
      statsd_connection_string: '', max_record_size: 0, omit_detailed_recording: false,
    });
  });

  it('fills analytics_storage_config, with TLS 1.2 to 1.3', () => {
    expect(config.analytics_storage_config).toMatchObject({
      type: 'redis', host: 'localhost', port: 6379, addrs: [], database: 0, timeout: 5, enable_cluster: false,
      key_prefix: 'analytics-', use_ssl: false, ssl_min_version: '1.2', ssl_max_version: '1.3',
    });
  });

  it('fills every pump with empty filters and Tyk’s per-pump options', () => {
    const sql = pump(load(minimalConfig()), 'SQL');
    expect(sql.filters).toEqual({ org_ids: [], api_ids: [], response_codes: [], skip_org_ids: [], skip_api_ids: [], skip_response_codes: [] });
    expect(sql).toMatchObject({ type: 'sql', timeout: 0, omit_detailed_recording: false, max_record_size: 0, ignore_fields: [] });
    expect(sql.meta).toMatchObject({ batch_size: 1000, table_sharding: false, migrate_sharded_tables: false });
  });

  it('fills the uptime pump config', () => {
    expect(config.uptime_pump_config).toMatchObject({ uptime_type: 'mongo', collection_name: 'tyk_uptime_analytics', batch_size: 1000 });
  });
});

describe('pump names', () => {
  it('are upper-cased, and the type is taken lower-cased', () => {
    const loaded = load(minimalConfig({ pumps: { Sql_Raw: { type: 'SQL', meta: SQL_META } } }));
    expect(pump(loaded, 'SQL_RAW').type).toBe('sql');
  });

  it('give the type when the pump has none', () => {
    const loaded = load(minimalConfig({ pumps: { mongo: { meta: MONGO_META } } }));
    expect(pump(loaded, 'MONGO').type).toBe('mongo');
  });

  it('that differ only in case are an error naming the second', () => {
    const problem = onlyProblem(() => load(minimalConfig({ pumps: { sql: { meta: SQL_META }, SQL: { meta: SQL_META } } })));
    expect(problem.path).toBe('pumps.SQL');
    expect(problem.message).toContain('defined twice');
  });
});

describe('TYK_PMP_* variables override the file, with Tyk’s names', () => {
  it('TYK_PMP_PURGEDELAY and TYK_PMP_PURGECHUNK set the loop', () => {
    const { config } = load(minimalConfig({ purge_delay: 3 }), { TYK_PMP_PURGEDELAY: '7', TYK_PMP_PURGECHUNK: '250' });
    expect(config.purge_delay).toBe(7);
    expect(config.purge_chunk).toBe(250);
  });

  it('x-env names replace the plain segment (TYK_PMP_HTTPPROFILE)', () => {
    expect(load(minimalConfig(), { TYK_PMP_HTTPPROFILE: 'true' }).config.enable_http_profiler).toBe(true);
  });

  it('TYK_PMP_ANALYTICSSTORAGECONFIG_HOST and _MAXACTIVE set the storage', () => {
    const { config } = load(minimalConfig(), {
      TYK_PMP_ANALYTICSSTORAGECONFIG_HOST: 'redis.internal',
      TYK_PMP_ANALYTICSSTORAGECONFIG_MAXACTIVE: '64',
      TYK_PMP_ANALYTICSSTORAGECONFIG_ADDRS: 'r1:6379, r2:6379',
    });
    expect(config.analytics_storage_config).toMatchObject({ host: 'redis.internal', optimisation_max_active: 64, addrs: ['r1:6379', 'r2:6379'] });
  });

  it('applies the storage layers in Tyk’s order: TYK_PMP_REDIS_* over the config, TYK_PMP_TEMPORAL_STORAGE_* over both', () => {
    const file = minimalConfig({ analytics_storage_config: { host: 'from-file', port: 6000, database: 1 } });
    const { config } = load(file, {
      TYK_PMP_ANALYTICSSTORAGECONFIG_HOST: 'from-config-env',
      TYK_PMP_ANALYTICSSTORAGECONFIG_PORT: '6001',
      TYK_PMP_REDIS_HOST: 'from-redis-env',
      TYK_PMP_REDIS_PORT: '6002',
      TYK_PMP_TEMPORAL_STORAGE_HOST: 'from-temporal-env',
    });
    expect(config.analytics_storage_config).toMatchObject({ host: 'from-temporal-env', port: 6002, database: 1 });
  });

  it('TYK_PMP_ANALYTICSSTORAGECONFIG_HOSTS takes Go’s map syntax', () => {
    const { config } = load(minimalConfig(), { TYK_PMP_ANALYTICSSTORAGECONFIG_HOSTS: 'r1:6379,r2:6380' });
    expect(config.analytics_storage_config.hosts).toEqual({ r1: '6379', r2: '6380' });
  });

  it('TYK_PMP_UPTIMEPUMPCONFIG_* configure the uptime pump', () => {
    const { config } = load(minimalConfig({ dont_purge_uptime_data: false }), {
      TYK_PMP_UPTIMEPUMPCONFIG_UPTIMETYPE: 'sql',
      TYK_PMP_UPTIMEPUMPCONFIG_CONNECTIONSTRING: 'host=pg dbname=uptime',
    });
    expect(config.uptime_pump_config).toMatchObject({ uptime_type: 'sql', connection_string: 'host=pg dbname=uptime' });
  });

  it('TYK_PMP_PUMPS_<NAME>_TYPE and _TIMEOUT create a pump from env alone', () => {
    const loaded = load(minimalConfig(), {
      TYK_PMP_PUMPS_RAW_TYPE: 'sql',
      TYK_PMP_PUMPS_RAW_TIMEOUT: '15',
      TYK_PMP_PUMPS_RAW_META_TYPE: 'postgres',
      TYK_PMP_PUMPS_RAW_META_CONNECTIONSTRING: 'host=pg dbname=raw',
    });
    expect(pump(loaded, 'RAW')).toMatchObject({ type: 'sql', timeout: 15, meta: { connection_string: 'host=pg dbname=raw' } });
  });

  it('_FILTERS_APIIDS and _FILTERS_SKIPPEDRESPONSECODES are comma-separated lists of the filter’s type', () => {
    const loaded = load(minimalConfig(), {
      TYK_PMP_PUMPS_SQL_FILTERS_APIIDS: 'a,b,c',
      TYK_PMP_PUMPS_SQL_FILTERS_ORGSIDS: 'org1',
      TYK_PMP_PUMPS_SQL_FILTERS_SKIPPEDRESPONSECODES: '404,500',
    });
    expect(pump(loaded, 'SQL').filters).toMatchObject({ api_ids: ['a', 'b', 'c'], org_ids: ['org1'], skip_response_codes: [404, 500] });
  });

  it('TYK_PMP_PUMPS_SQL_META_CONNECTIONSTRING overrides the meta of a file pump', () => {
    const loaded = load(minimalConfig(), { TYK_PMP_PUMPS_SQL_META_CONNECTIONSTRING: 'host=other dbname=x' });
    expect(pump(loaded, 'SQL').meta.connection_string).toBe('host=other dbname=x');
  });

  it('uses Tyk’s default meta prefix for a file pump of that type (TYK_PMP_PUMPS_SQLAGGREGATE_META)', () => {
    const loaded = load(minimalConfig({ pumps: { agg: { type: 'sql_aggregate', meta: SQL_META } } }), {
      TYK_PMP_PUMPS_SQLAGGREGATE_META_TRACKALLPATHS: 'true',
    });
    expect(pump(loaded, 'AGG').meta.track_all_paths).toBe(true);
  });

  it('a custom meta_env_prefix in the file names the meta variables', () => {
    const file = minimalConfig({ pumps: { sql: { type: 'sql', meta: { ...SQL_META, meta_env_prefix: 'ACME_SQL' } } } });
    const loaded = load(file, { ACME_SQL_CONNECTIONSTRING: 'host=acme dbname=x', ACME_SQL_BATCHSIZE: '50' });
    expect(pump(loaded, 'SQL').meta).toMatchObject({ connection_string: 'host=acme dbname=x', batch_size: 50 });
  });

  it('the Sluice-only settings take TYK_PMP_SLUICE_*', () => {
    const { config } = load(minimalConfig(), { TYK_PMP_SLUICE_LEASESECONDS: '12', TYK_PMP_SLUICE_RETRY_QUEUEATTEMPTS: '3' });
    expect(config.sluice.lease_seconds).toBe(12);
    expect(config.sluice.retry.queue_attempts).toBe(3);
  });

  it('encode_threads unset is one fewer than the CPUs, from 1 to 4 (2 on 2 CPUs with sql_aggregate); set, in the file or the env, it is as given', () => {
    const cpus = [1, 2, 3, 4, 5, 6, 64];
    expect(cpus.map((n) => encodeThreadsFor(n, false))).toEqual([1, 1, 2, 3, 4, 4, 4]);
    expect(cpus.map((n) => encodeThreadsFor(n, true))).toEqual([1, 2, 2, 3, 4, 4, 4]);
    expect(load(minimalConfig()).config.sluice.encode_threads).toBe(encodeThreadsFor(availableParallelism(), false));
    const aggregating = minimalConfig({ pumps: { agg: { type: 'SQL_Aggregate', meta: SQL_META } } });
    expect(load(aggregating).config.sluice.encode_threads).toBe(encodeThreadsFor(availableParallelism(), true));
    expect(load(minimalConfig({ sluice: { encode_threads: 0 } })).config.sluice.encode_threads).toBe(0);
    expect(load(minimalConfig(), { TYK_PMP_SLUICE_ENCODETHREADS: '6' }).config.sluice.encode_threads).toBe(6);
  });

  it('TYK_PMP_OMITCONFIGFILE=true reads no file at all, even a missing one', () => {
    const loaded = loadConfig({
      path: join(tmpdir(), 'sluice-no-such-dir', 'pump.conf'),
      env: {
        TYK_PMP_OMITCONFIGFILE: 'TRUE',
        TYK_PMP_DONTPURGEUPTIMEDATA: 'true',
        TYK_PMP_PUMPS_SQL_META_TYPE: 'postgres',
        TYK_PMP_PUMPS_SQL_META_CONNECTIONSTRING: 'host=pg dbname=x',
      },
    });
    expect(loaded.source).toMatch(/TYK_PMP_OMITCONFIGFILE/);
    expect(pump(loaded, 'SQL').type).toBe('sql');
  });
});

describe('Tyk’s configuration acceptance cases (reference §9.1)', () => {
  it('TestToUpperPumps: file keys are upper-cased and TYK_PMP_PUMPS_TEST3_TYPE overrides tEst3’s file type', () => {
    const pumps = { test1: { type: 'sql', meta: SQL_META }, test2: { type: 'sql', meta: SQL_META }, tEst3: { type: 'sql', meta: SQL_META }, Test4: { type: 'sql', meta: SQL_META } };
    const loaded = load(minimalConfig({ pumps }), { TYK_PMP_PUMPS_TEST3_TYPE: 'sql_aggregate' });
    expect(loaded.config.pumps.map((p) => p.name).sort()).toEqual(['TEST1', 'TEST2', 'TEST3', 'TEST4']);
    expect(pump(loaded, 'TEST3').type).toBe('sql_aggregate');
    expect(pump(loaded, 'TEST1').type).toBe('sql');
  });

  // Tyk's case uses the csv pump; Sluice has no csv, so sql plays its part.
  it('TestConfigEnv: env pumps TEST and SQL beside the file pump SQLTEST2', () => {
    const file = minimalConfig({ pumps: { sqltest2: { type: 'sql', meta: SQL_META } } });
    const loaded = load(file, {
      TYK_PMP_PUMPS_TEST_TYPE: 'SQL',
      TYK_PMP_PUMPS_TEST_TIMEOUT: '10',
      TYK_PMP_PUMPS_TEST_META_TYPE: 'postgres',
      TYK_PMP_PUMPS_TEST_META_CONNECTIONSTRING: 'host=pg dbname=test',
      TYK_PMP_PUMPS_SQL_FILTERS_APIIDS: 'a,b,c',
      TYK_PMP_PUMPS_SQL_META_TYPE: 'postgres',
      TYK_PMP_PUMPS_SQL_META_CONNECTIONSTRING: 'host=pg dbname=sql',
    });
    expect(loaded.config.pumps.map((p) => p.name).sort()).toEqual(['SQL', 'SQLTEST2', 'TEST']);
    expect(pump(loaded, 'TEST')).toMatchObject({ type: 'sql', timeout: 10 });
    expect(pump(loaded, 'TEST').meta.meta_env_prefix).toBe('TYK_PMP_PUMPS_TEST_META');
    expect(pump(loaded, 'SQL').meta.meta_env_prefix).toBe('TYK_PMP_PUMPS_SQL_META');
    expect(pump(loaded, 'SQL').filters.api_ids).toHaveLength(3);
  });

  // Tyk starts from an in-memory purge_delay of 5; Sluice's starting point is the schema default.
  describe('TestIgnoreConfig: TYK_PMP_OMITCONFIGFILE decides whether the file’s purge_delay counts', () => {
    const file = writeConf(minimalConfig({ purge_delay: 3 }));
    const pumpFromEnv = { TYK_PMP_DONTPURGEUPTIMEDATA: 'true', TYK_PMP_PUMPS_SQL_META_TYPE: 'postgres', TYK_PMP_PUMPS_SQL_META_CONNECTIONSTRING: 'host=pg' };
    const purgeDelay = (env: Env, path = file) => loadConfig({ path, env: { ...pumpFromEnv, ...env } }).config.purge_delay;

    it('=true ignores the file', () => expect(purgeDelay({ TYK_PMP_OMITCONFIGFILE: 'true' })).toBe(10));
    it('=false reads it', () => expect(purgeDelay({ TYK_PMP_OMITCONFIGFILE: 'false' })).toBe(3));
    it('unset reads it', () => expect(purgeDelay({})).toBe(3));
    it('=true with the file missing still loads', () => expect(purgeDelay({ TYK_PMP_OMITCONFIGFILE: 'true' }, `${file}.missing`)).toBe(10));
  });

  describe('TestTykPumpConfiguration_LoadPumpsByEnv', () => {
    it('the TYPE variable alone creates ENVTEST with its meta_env_prefix', () => {
      const loaded = load(minimalConfig(), {
        TYK_PMP_PUMPS_ENVTEST_TYPE: 'mongo-pump-aggregate',
        TYK_PMP_PUMPS_ENVTEST_META_MONGOURL: 'mongodb://mongo/tyk_analytics',
      });
      expect(pump(loaded, 'ENVTEST').type).toBe('mongo-pump-aggregate');
      expect(pump(loaded, 'ENVTEST').meta).toMatchObject({ meta_env_prefix: 'TYK_PMP_PUMPS_ENVTEST_META', mongo_url: 'mongodb://mongo/tyk_analytics' });
    });

    it('with no TYPE variable and no file type, the pump is dropped with a warning', () => {
      const loaded = load(minimalConfig(), { TYK_PMP_PUMPS_ENVTEST_TIMEOUT: '5' });
      expect(loaded.config.pumps.map((p) => p.name)).toEqual(['SQL']);
      expect(loaded.warnings.join('\n')).toContain('TYK_PMP_PUMPS_ENVTEST_TYPE');
    });

    it('with no TYPE variable, the file’s type mongo is kept', () => {
      const file = minimalConfig({ pumps: { envtest: { type: 'mongo', meta: MONGO_META } } });
      const loaded = load(file, { TYK_PMP_PUMPS_ENVTEST_TIMEOUT: '5' });
      expect(pump(loaded, 'ENVTEST')).toMatchObject({ type: 'mongo', timeout: 5, meta: { meta_env_prefix: 'TYK_PMP_PUMPS_ENVTEST_META' } });
    });
  });
});

describe('every kind of configuration error names its key', () => {
  it('an unknown key suggests the nearest valid one', () => {
    const problem = onlyProblem(() => load(minimalConfig({ purge_dely: 2 })));
    expect(problem).toEqual({ path: 'purge_dely', message: 'unknown key; did you mean "purge_delay"?' });
  });

  it('an unknown key inside analytics_storage_config suggests from that level', () => {
    const problem = onlyProblem(() => load(minimalConfig({ analytics_storage_config: { key_prefx: 'a-' } })));
    expect(problem.path).toBe('analytics_storage_config.key_prefx');
    expect(problem.message).toContain('did you mean "key_prefix"?');
  });

  it('a misplaced key says where it belongs (batch_size at pump level)', () => {
    const problem = onlyProblem(() => load(minimalConfig({ pumps: { sql: { type: 'sql', batch_size: 500, meta: SQL_META } } })));
    expect(problem.path).toBe('pumps.SQL.batch_size');
    expect(problem.message).toContain('belongs in pumps.SQL.meta.batch_size');
  });

  it('a misplaced key at the top level says where it belongs (key_prefix)', () => {
    const problem = onlyProblem(() => load(minimalConfig({ key_prefix: 'x-' })));
    expect(problem.path).toBe('key_prefix');
    expect(problem.message).toContain('analytics_storage_config.key_prefix');
  });

  it('an unknown meta key is reported under the pump’s meta', () => {
    const problem = onlyProblem(() => load(minimalConfig({ pumps: { sql: { type: 'sql', meta: { ...SQL_META, table_shardin: true } } } })));
    expect(problem.path).toBe('pumps.SQL.meta.table_shardin');
    expect(problem.message).toContain('did you mean "table_sharding"?');
  });

  it('a wrong type names the key and the expected type', () => {
    const problem = onlyProblem(() => load(minimalConfig({ purge_chunk: 'lots' })));
    expect(problem.path).toBe('purge_chunk');
    expect(problem.message).toMatch(/integer/);
  });

  it('a wrong type inside a pump names the full path', () => {
    const problem = onlyProblem(() => load(minimalConfig({ pumps: { sql: { type: 'sql', timeout: 'soon', meta: SQL_META } } })));
    expect(problem.path).toBe('pumps.SQL.timeout');
  });

  it('a missing required key (connection_string) is named', () => {
    const problem = onlyProblem(() => load(minimalConfig({ pumps: { sql: { type: 'sql', meta: { type: 'postgres' } } } })));
    expect(problem).toEqual({ path: 'pumps.SQL.meta.connection_string', message: 'is required' });
  });

  it('an uptime pump without its database is named (uptime_pump_config.mongo_url)', () => {
    const problem = onlyProblem(() => load(minimalConfig({ dont_purge_uptime_data: false })));
    expect(problem.path).toBe('uptime_pump_config.mongo_url');
    expect(problem.message).toContain('dont_purge_uptime_data');
  });

  it('an unsupported pump type lists the supported types', () => {
    const problem = onlyProblem(() => load(minimalConfig({ pumps: { sql: { type: 'sql', meta: SQL_META }, kafka: { type: 'kafka', meta: {} } } })));
    expect(problem.path).toBe('pumps.KAFKA.type');
    expect(problem.message).toContain('"kafka" is not implemented');
    for (const type of ['sql', 'sql_aggregate', 'mongo', 'mongo-pump-selective', 'mongo-pump-aggregate']) expect(problem.message).toContain(type);
  });

  it('a bad env value names the variable', () => {
    const problem = onlyProblem(() => load(minimalConfig(), { TYK_PMP_PURGECHUNK: 'abc' }));
    expect(problem).toEqual({ path: 'TYK_PMP_PURGECHUNK', message: 'expected an integer, got "abc"' });
  });

  it('a bad boolean or list item from env names the variable', () => {
    const problems = problemsOf(() => load(minimalConfig(), { TYK_PMP_DONTPURGEUPTIMEDATA: 'yes', TYK_PMP_PUMPS_SQL_FILTERS_RESPONSECODES: '200,oops' }));
    expect(problems.map((p) => p.path).sort()).toEqual(['TYK_PMP_DONTPURGEUPTIMEDATA', 'TYK_PMP_PUMPS_SQL_FILTERS_RESPONSECODES']);
  });

  it('a file that is not valid JSON is named as --conf', () => {
    const problem = onlyProblem(() => load('{ "purge_delay": 1, }'));
    expect(problem.path).toBe('--conf');
    expect(problem.message).toContain('is not valid JSON');
  });

  it('a JSON syntax error does not quote the file, which may hold secrets', () => {
    const problem = onlyProblem(() => load('{ "analytics_storage_config": { "password": supersecret } }'));
    expect(problem.path).toBe('--conf');
    expect(problem.message).not.toContain('supersecre');
  });

  it('a file holding JSON that is not an object is rejected', () => {
    expect(onlyProblem(() => load('[1, 2]')).message).toContain('one JSON object');
  });

  it('a missing explicit file is named as --conf', () => {
    const path = join(tmpdir(), 'sluice-no-such-dir', 'pump.conf');
    const problem = onlyProblem(() => loadConfig({ path, env: {} }));
    expect(problem.path).toBe('--conf');
    expect(problem.message).toContain(`cannot read ${path}`);
  });

  it('ssl_cert_file without ssl_key_file is named', () => {
    const problem = onlyProblem(() => load(minimalConfig({ analytics_storage_config: { use_ssl: true, ssl_cert_file: '/certs/client.pem' } })));
    expect(problem.path).toBe('analytics_storage_config.ssl_cert_file');
    expect(problem.message).toContain('ssl_key_file');
  });

  it('ssl_min_version above ssl_max_version is named', () => {
    const problem = onlyProblem(() => load(minimalConfig({ analytics_storage_config: { ssl_min_version: '1.3', ssl_max_version: '1.2' } })));
    expect(problem).toEqual({ path: 'analytics_storage_config.ssl_min_version', message: 'ssl_min_version 1.3 is above ssl_max_version 1.2' });
  });

  it('enable_cluster without addrs is named', () => {
    const problem = onlyProblem(() => load(minimalConfig({ analytics_storage_config: { enable_cluster: true } })));
    expect(problem.path).toBe('analytics_storage_config.addrs');
  });

  it('kv:// and $kv{} references are refused where they appear', () => {
    const file = minimalConfig({
      analytics_storage_config: { password: 'kv://vault/redis-password' },
      pumps: { sql: { type: 'sql', meta: { type: 'postgres', connection_string: '$kv{env:PG_DSN}' } } },
    });
    const problems = problemsOf(() => load(file));
    expect(problems.map((p) => p.path).sort()).toEqual(['analytics_storage_config.password', 'pumps.SQL.meta.connection_string']);
    expect(problems[0]!.message).toContain('kv://');
  });

  it('no pumps at all is an error on pumps', () => {
    expect(onlyProblem(() => load({ dont_purge_uptime_data: true })).path).toBe('pumps');
  });

  it('lists every problem at once, not only the first', () => {
    const problems = problemsOf(() => load(minimalConfig({ purge_dely: 2, purge_chunk: 'x' }), { TYK_PMP_HEALTHCHECKENDPOINTPORT: 'http' }));
    expect(problems.map((p) => p.path).sort()).toEqual(['TYK_PMP_HEALTHCHECKENDPOINTPORT', 'purge_chunk', 'purge_dely']);
  });

  it('the error message puts each problem on its own line, key first', () => {
    try {
      load(minimalConfig({ purge_dely: 2 }), { TYK_PMP_PURGECHUNK: 'abc' });
    } catch (err) {
      expect((err as Error).message.split('\n').sort()).toEqual(['TYK_PMP_PURGECHUNK: expected an integer, got "abc"', 'purge_dely: unknown key; did you mean "purge_delay"?']);
      return;
    }
    throw new Error('expected a ConfigError');
  });
});
