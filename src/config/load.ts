import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { packageRoot } from '../assets.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { applyEnv, type Env, type JsonObject } from './env.js';
import { nearestKey, placesOf } from './nearest-key.js';
import { configSchema, envSegment, PUMP_META_SCHEMAS, SUPPORTED_PUMP_TYPES, type SchemaNode } from './schema.js';
import type { PumpConfig, PumpConfiguration } from './types.js';

export const DEFAULT_CONFIG_PATH = join(packageRoot(), 'config', 'pump.default.conf');

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const validateTop = ajv.compile(configSchema);
const validateMeta: Record<string, ValidateFunction> = Object.fromEntries(
  Object.entries(PUMP_META_SCHEMAS).map(([type, node]) => [type, ajv.compile(node)]),
);

/** Tyk's default env prefix for a pump type's meta when the pump did not come from env. */
const DEFAULT_META_ENV_PREFIX: Record<string, string> = {
  sql: 'TYK_PMP_PUMPS_SQL_META',
  sql_aggregate: 'TYK_PMP_PUMPS_SQLAGGREGATE_META',
  mongo: 'TYK_PMP_PUMPS_MONGO_META',
  'mongo-pump-selective': 'TYK_PMP_PUMPS_MONGOSELECTIVE_META',
  'mongo-pump-aggregate': 'TYK_PMP_PUMPS_MONGOAGGREGATE_META',
};

const KV_REFERENCE = /^(kv:\/\/|\$kv\{)/;

export interface LoadedConfig {
  config: PumpConfiguration;
  /** Where the file came from, or why none was read. */
  source: string;
  warnings: string[];
}

export interface LoadOptions {
  /** `--conf`; when absent, ./pump.conf if it exists, else the bundled default config. */
  path?: string;
  env: Env;
}

function readConfigFile(path: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '--conf', message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('the file must hold one JSON object');
    return parsed as JsonObject;
  } catch (err) {
    throw new ConfigError([{ path: '--conf', message: `${path} is not valid JSON: ${withoutQuotedText((err as Error).message)}` }]);
  }
}

/** V8 quotes the text around a JSON syntax error, and that text may be a password; keep only the error. */
function withoutQuotedText(message: string): string {
  return message.replace(/^(Unexpected token) '.*? is not valid JSON$/s, '$1');
}

function chooseFile(opts: LoadOptions): { raw: JsonObject; source: string } {
  if (/^true$/i.test(opts.env.TYK_PMP_OMITCONFIGFILE ?? '')) return { raw: {}, source: 'TYK_PMP_OMITCONFIGFILE: no file read' };
  const path = opts.path ?? (existsSync('pump.conf') ? 'pump.conf' : DEFAULT_CONFIG_PATH);
  return { raw: readConfigFile(path), source: path };
}

function asObject(value: unknown): JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : {};
}

/** Tyk upper-cases pump names; two names that differ only in case would silently collapse. */
function upperCasePumps(raw: JsonObject, problems: ConfigProblem[]): void {
  const pumps = raw.pumps;
  if (pumps === undefined) return;
  if (pumps === null || typeof pumps !== 'object' || Array.isArray(pumps)) return; // the schema reports it
  const upper: JsonObject = {};
  for (const [name, pump] of Object.entries(pumps as JsonObject)) {
    if (name.toUpperCase() in upper) problems.push({ path: `pumps.${name}`, message: `pump names are case-insensitive; ${name.toUpperCase()} is defined twice` });
    upper[name.toUpperCase()] = pump;
  }
  raw.pumps = upper;
}

function applyTopLevelEnv(raw: JsonObject, env: Env, problems: ConfigProblem[]): void {
  const props = configSchema.properties!;
  const topOnly: SchemaNode = { properties: Object.fromEntries(Object.entries(props).filter(([k]) => !['pumps', 'analytics_storage_config', 'uptime_pump_config', 'sluice'].includes(k))) };
  applyEnv(raw, topOnly, 'TYK_PMP', env, problems);
  const storage = asObject(raw.analytics_storage_config);
  // Tyk applies three layers to storage, the later winning (reference §1.4).
  for (const prefix of ['TYK_PMP_ANALYTICSSTORAGECONFIG', 'TYK_PMP_REDIS', 'TYK_PMP_TEMPORAL_STORAGE']) {
    applyEnv(storage, props.analytics_storage_config!, prefix, env, problems);
  }
  raw.analytics_storage_config = storage;
  const uptime = asObject(raw.uptime_pump_config);
  applyEnv(uptime, props.uptime_pump_config!, 'TYK_PMP_UPTIMEPUMPCONFIG', env, problems);
  raw.uptime_pump_config = uptime;
  const sluice = asObject(raw.sluice);
  applyEnv(sluice, props.sluice!, 'TYK_PMP_SLUICE', env, problems);
  raw.sluice = sluice;
}

/**
 * Pumps defined or changed by TYK_PMP_PUMPS_<NAME>_<FIELD> (reference §2.9 step 4). The name is the
 * token before the next `_`; a name that is itself a pump type gives the type.
 */
function applyPumpEnv(raw: JsonObject, env: Env, problems: ConfigProblem[], warnings: string[]): void {
  const pumps = asObject(raw.pumps);
  const names = new Set<string>();
  for (const variable of Object.keys(env)) {
    const m = /^TYK_PMP_PUMPS_([^_]+)_/.exec(variable);
    if (m) names.add(m[1]!.toUpperCase());
  }
  const pumpSchema = configSchema.properties!.pumps!.additionalProperties as SchemaNode;
  for (const name of names) {
    const pump = asObject(pumps[name]);
    const prefix = `TYK_PMP_PUMPS_${name}`;
    applyEnv(pump, { properties: Object.fromEntries(Object.entries(pumpSchema.properties!).filter(([k]) => k !== 'meta')) }, prefix, env, problems);
    const nameAsType = name.toLowerCase();
    if (SUPPORTED_PUMP_TYPES.includes(nameAsType)) pump.type = nameAsType;
    if (!pump.type) {
      warnings.push(`${prefix}_TYPE not set and no file type for pump ${name}; pump skipped, as Tyk does`);
      delete pumps[name];
      continue;
    }
    pump.meta = { ...asObject(pump.meta), meta_env_prefix: `${prefix}_META` };
    pumps[name] = pump;
  }
  raw.pumps = pumps;
}

function findKvReferences(value: unknown, path: string, problems: ConfigProblem[]): void {
  if (typeof value === 'string' && KV_REFERENCE.test(value)) {
    problems.push({ path, message: 'kv:// and $kv{} secret references are not supported yet; put the value in the file or a TYK_PMP_* variable' });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) findKvReferences(v, path ? `${path}.${k}` : k, problems);
  }
}

function instancePath(base: string, err: ErrorObject): string {
  const parts = err.instancePath.split('/').filter(Boolean).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  return [base, ...parts].filter(Boolean).join('.');
}

function describeSchemaError(err: ErrorObject, base: string): ConfigProblem {
  const path = instancePath(base, err);
  if (err.keyword === 'additionalProperties') {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    const parentSchema = err.parentSchema as SchemaNode;
    const typo = nearestKey(key, Object.keys(parentSchema.properties ?? {}));
    const pumpName = /^pumps\.([^.]+)/.exec(path)?.[1] ?? '<name>';
    const metaPlaces = Object.values(PUMP_META_SCHEMAS).flatMap((m) => placesOf(key, m, `pumps.${pumpName}.meta`));
    const elsewhere = [...new Set([...metaPlaces, ...placesOf(key, configSchema)])].map((p) => p.replaceAll('<name>', pumpName));
    const hint = typo ? `; did you mean "${typo}"?` : elsewhere.length > 0 ? `; it belongs in ${elsewhere.slice(0, 2).join(' or ')}` : '';
    return { path: path ? `${path}.${key}` : key, message: `unknown key${hint}` };
  }
  if (err.keyword === 'required') {
    const key = (err.params as { missingProperty: string }).missingProperty;
    return { path: path ? `${path}.${key}` : key, message: 'is required' };
  }
  if (err.keyword === 'enum') return { path, message: `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
  return { path, message: err.message ?? 'is invalid' };
}

function validate(fn: ValidateFunction, data: unknown, base: string): ConfigProblem[] {
  if (fn(data)) return [];
  return (fn.errors ?? []).map((e) => describeSchemaError(e, base));
}

function normalisePump(name: string, raw: JsonObject, env: Env, problems: ConfigProblem[]): PumpConfig | undefined {
  const type = String(raw.type || name).toLowerCase();
  if (!SUPPORTED_PUMP_TYPES.includes(type)) {
    problems.push({ path: `pumps.${name}.type`, message: `pump type "${type}" is not implemented by Sluice; supported types: ${SUPPORTED_PUMP_TYPES.join(', ')}` });
    return undefined;
  }
  const meta = asObject(raw.meta);
  const metaSchema = PUMP_META_SCHEMAS[type]!;
  const prefix = typeof meta.meta_env_prefix === 'string' && meta.meta_env_prefix !== '' ? meta.meta_env_prefix : DEFAULT_META_ENV_PREFIX[type]!;
  applyEnv(meta, metaSchema, prefix, env, problems);
  problems.push(...validate(validateMeta[type]!, meta, `pumps.${name}.meta`));
  const filters = raw.filters as PumpConfig['filters'];
  return {
    name, type, filters,
    timeout: raw.timeout as number,
    omit_detailed_recording: raw.omit_detailed_recording as boolean,
    max_record_size: raw.max_record_size as number,
    ignore_fields: raw.ignore_fields as string[],
    meta,
  };
}

function crossChecks(config: PumpConfiguration, problems: ConfigProblem[]): void {
  const s = config.analytics_storage_config;
  if ((s.ssl_cert_file === '') !== (s.ssl_key_file === '')) {
    problems.push({ path: 'analytics_storage_config.ssl_cert_file', message: 'ssl_cert_file and ssl_key_file must be set together (mutual TLS)' });
  }
  if (Number(s.ssl_min_version) > Number(s.ssl_max_version)) {
    problems.push({ path: 'analytics_storage_config.ssl_min_version', message: `ssl_min_version ${s.ssl_min_version} is above ssl_max_version ${s.ssl_max_version}` });
  }
  if (s.enable_cluster && s.addrs.length === 0 && s.master_name === '') {
    problems.push({ path: 'analytics_storage_config.addrs', message: 'enable_cluster needs the cluster seed nodes in addrs' });
  }
  const u = config.uptime_pump_config;
  if (!config.dont_purge_uptime_data) {
    if (u.uptime_type === 'sql' && !u.connection_string) {
      problems.push({ path: 'uptime_pump_config.connection_string', message: 'is required for uptime_type "sql" (or set dont_purge_uptime_data: true)' });
    } else if (u.uptime_type !== 'sql' && !u.mongo_url) {
      problems.push({ path: 'uptime_pump_config.mongo_url', message: 'is required for uptime_type "mongo" (or set uptime_type "sql", or dont_purge_uptime_data: true)' });
    }
  }
  if (config.pumps.length === 0) problems.push({ path: 'pumps', message: 'no pumps configured' });
}

/**
 * Encode threads for a machine with `cpus` CPUs: the main thread keeps one busy (claims, transfers, writes),
 * and on a 2-CPU machine a second encode thread drained raw `sql` no faster while costing 15% more CPU per
 * record and 30–50 MB more memory. An aggregating pump is the exception: its threads decode and aggregate,
 * while the main thread only writes a few rows per hundred records and idles half the time, so on 2 CPUs a
 * second thread drained `sql_aggregate` faster in 5 of 5 alternating hourly pairs and 4 of 5 per minute
 * (median ratios 0.61 against 0.54, and 0.35 against 0.30), for 60–70 MB more. Past 4, the main thread,
 * not encoding, bounds a node.
 */
export function encodeThreadsFor(cpus: number, aggregating: boolean): number {
  const besideMain = Math.max(1, cpus - 1);
  return Math.min(4, aggregating ? Math.max(besideMain, Math.min(2, cpus)) : besideMain);
}

/** Pump types whose encoding, in the encode threads, aggregates. */
const AGGREGATING_PUMPS: ReadonlySet<string> = new Set(['sql_aggregate']);

/** Keys whose default depends on the machine (`x-computed-default` in the schema), filled in when unset. */
function applyMachineDefaults(config: PumpConfiguration): void {
  const aggregating = config.pumps.some((pump) => AGGREGATING_PUMPS.has(pump.type));
  config.sluice.encode_threads ??= encodeThreadsFor(availableParallelism(), aggregating);
}

/** Reads pump.conf and TYK_PMP_* variables into a validated configuration, or throws ConfigError. */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const { raw, source } = chooseFile(opts);
  upperCasePumps(raw, problems);
  applyTopLevelEnv(raw, opts.env, problems);
  applyPumpEnv(raw, opts.env, problems, warnings);
  findKvReferences(raw, '', problems);
  problems.push(...validate(validateTop, raw, ''));
  const pumps = Object.entries(asObject(raw.pumps))
    .map(([name, pump]) => normalisePump(name, asObject(pump), opts.env, problems))
    .filter((p): p is PumpConfig => p !== undefined);
  if (problems.length > 0) throw new ConfigError(problems);
  const config = { ...(raw as unknown as PumpConfiguration), pumps };
  crossChecks(config, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  applyMachineDefaults(config);
  return { config, source, warnings };
}

/** The env variable that overrides a key path, for docs and error messages. */
export function envNameFor(path: readonly string[]): string {
  let node: SchemaNode = configSchema;
  const segments = ['TYK_PMP'];
  for (const key of path) {
    const child: SchemaNode | undefined = node.properties?.[key];
    if (!child) break;
    segments.push(envSegment(key, child));
    node = child;
  }
  return segments.join('_');
}

