import { MongoClient, MongoError, MongoParseError, type CommandStartedEvent, type Db, type MongoClientOptions, type ReadPreferenceMode } from 'mongodb';
import { errorMessage } from '../../src/errors.js';
import { redactCredentials } from '../../src/log/logger.js';
import { SinkError } from '../sink.js';
import { metaBool, metaNumber, metaString, type Meta } from './meta.js';

/*
 * Tyk's common Mongo options (BaseMongoConf) and the one client every Mongo sink opens from them.
 * A connection that fails is a transient SinkError, which the pipeline retries; Tyk exits the process
 * instead (W27), so one unreachable database stops every other pump.
 */

/** `mongo_db_type`: what the server really is, because DocumentDB and CosmosDB only imitate MongoDB. */
export const MongoDbType = { MongoDB: 0, DocumentDB: 1, CosmosDB: 2 } as const;
export type MongoDbType = (typeof MongoDbType)[keyof typeof MongoDbType];

export interface MongoConnectionSettings {
  url: string;
  /** The database named by the URL path. */
  database: string;
  dbType: MongoDbType;
  useSsl: boolean;
  sslInsecureSkipVerify: boolean;
  sslAllowInvalidHostnames: boolean;
  sslCaFile: string;
  sslPemKeyfile: string;
  omitIndexCreation: boolean;
  sessionConsistency: string;
  directConnection: boolean;
  /**
   * Tyk's client timeout: the pump's `timeout`, or 10 s when that is 0. It bounds connecting and server
   * selection; a write's own deadline is the pipeline's abort signal.
   */
  timeoutMs: number;
}

/** Test and diagnostics hooks a Mongo sink accepts besides its config. */
export interface MongoSinkHooks {
  /** Sees every command Sluice sends; turns on the driver's command monitoring. */
  onCommand?: (event: CommandStartedEvent) => void;
}

const DRIVERS = ['', 'mongo-go', 'mgo'];
const DEFAULT_TIMEOUT_SECONDS = 10;

/** Throws a permanent SinkError naming the key: configuration cannot fix itself by retrying. */
export function readConnectionSettings(sink: string, meta: Meta, timeoutSeconds: number): MongoConnectionSettings {
  const url = metaString(meta, 'mongo_url').trim();
  if (!/^mongodb(\+srv)?:\/\//.test(url)) {
    throw new SinkError(sink, 'mongo_url must start with mongodb:// or mongodb+srv://', false);
  }
  const database = databaseFromUrl(url);
  if (database === '') {
    throw new SinkError(sink, `mongo_url names no database (the URL path): ${redactCredentials(url)}`, false);
  }
  const driver = metaString(meta, 'driver');
  if (!DRIVERS.includes(driver)) {
    throw new SinkError(sink, `driver must be "mongo-go" or "mgo", not ${JSON.stringify(driver)}`, false);
  }
  const dbType = metaNumber(meta, 'mongo_db_type', MongoDbType.MongoDB);
  if (dbType !== 0 && dbType !== 1 && dbType !== 2) {
    throw new SinkError(sink, `mongo_db_type must be 0 (MongoDB), 1 (DocumentDB) or 2 (CosmosDB), not ${dbType}`, false);
  }
  return {
    url,
    database,
    dbType,
    useSsl: metaBool(meta, 'mongo_use_ssl'),
    sslInsecureSkipVerify: metaBool(meta, 'mongo_ssl_insecure_skip_verify'),
    sslAllowInvalidHostnames: metaBool(meta, 'mongo_ssl_allow_invalid_hostnames'),
    sslCaFile: metaString(meta, 'mongo_ssl_ca_file'),
    sslPemKeyfile: metaString(meta, 'mongo_ssl_pem_keyfile'),
    omitIndexCreation: metaBool(meta, 'omit_index_creation'),
    sessionConsistency: metaString(meta, 'mongo_session_consistency'),
    directConnection: metaBool(meta, 'mongo_direct_connection'),
    timeoutMs: (timeoutSeconds > 0 ? timeoutSeconds : DEFAULT_TIMEOUT_SECONDS) * 1000,
  };
}

export function databaseFromUrl(url: string): string {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(url)?.[1] ?? '';
  return decodeURIComponent(path);
}

/** Lower-cased names of the options the URI sets itself; Tyk applies the URI last, so these win. */
function uriOptionNames(url: string): Set<string> {
  const query = url.split('?')[1] ?? '';
  return new Set([...new URLSearchParams(query).keys()].map((k) => k.toLowerCase()));
}

const READ_PREFERENCES: Record<string, ReadPreferenceMode> = {
  '': 'primary',
  strong: 'primary',
  monotonic: 'primaryPreferred',
  eventual: 'nearest',
};

function settingOptions(s: MongoConnectionSettings): MongoClientOptions {
  const options: MongoClientOptions = {
    readPreference: READ_PREFERENCES[s.sessionConsistency.toLowerCase()] ?? 'primary',
    directConnection: s.directConnection,
    // DocumentDB and CosmosDB refuse retryable writes; MongoDB keeps the driver's default.
    ...(s.dbType === MongoDbType.MongoDB ? {} : { retryWrites: false }),
  };
  if (!s.useSsl) return options;
  options.tls = true;
  // tlsInsecure is Go's InsecureSkipVerify: neither the chain nor the host name is checked.
  if (s.sslInsecureSkipVerify) options.tlsInsecure = true;
  else if (s.sslAllowInvalidHostnames) options.tlsAllowInvalidHostnames = true;
  if (s.sslCaFile !== '') options.tlsCAFile = s.sslCaFile;
  if (s.sslPemKeyfile !== '') options.tlsCertificateKeyFile = s.sslPemKeyfile;
  return options;
}

/** Driver options from the settings, minus any the URI already sets. */
export function clientOptions(s: MongoConnectionSettings, hooks: MongoSinkHooks = {}): MongoClientOptions {
  const fromUri = uriOptionNames(s.url);
  const aliases: Record<string, string[]> = { tls: ['tls', 'ssl'], tlsInsecure: ['tlsinsecure', 'tlsallowinvalidcertificates', 'tlsallowinvalidhostnames'] };
  const options = Object.fromEntries(
    Object.entries(settingOptions(s)).filter(([key]) => !(aliases[key] ?? [key.toLowerCase()]).some((name) => fromUri.has(name))),
  ) as MongoClientOptions;
  return {
    ...options,
    serverSelectionTimeoutMS: s.timeoutMs,
    connectTimeoutMS: s.timeoutMs,
    monitorCommands: hooks.onCommand !== undefined,
  };
}

export interface MongoConnection {
  readonly client: MongoClient;
  readonly db: Db;
  /** A replica set (hello reports setName) can run multi-document transactions; a standalone cannot. */
  readonly replicaSet: boolean;
}

/** Connects and asks the server what it is. Every failure is transient except an unreadable URL. */
export async function connectMongo(sink: string, s: MongoConnectionSettings, hooks: MongoSinkHooks, signal: AbortSignal): Promise<MongoConnection> {
  signal.throwIfAborted();
  let client: MongoClient;
  try {
    client = new MongoClient(s.url, clientOptions(s, hooks));
  } catch (err) {
    throw new SinkError(sink, `cannot read mongo_url ${redactCredentials(s.url)}: ${errorMessage(err)}`, !(err instanceof MongoParseError), { cause: err });
  }
  if (hooks.onCommand) client.on('commandStarted', hooks.onCommand);
  try {
    await client.connect();
    const db = client.db(s.database);
    const hello = await db.command({ hello: 1 }, { signal });
    return { client, db, replicaSet: typeof hello.setName === 'string' && hello.setName !== '' };
  } catch (err) {
    await client.close().catch(() => {});
    throw new SinkError(sink, `cannot connect to ${redactCredentials(s.url)}: ${redactCredentials(errorMessage(err))}`, true, { cause: err });
  }
}

/*
 * Server error codes that concern the data rather than the server: the same write fails again on retry.
 * 2 BadValue, 9 FailedToParse, 14 TypeMismatch, 52/56/57 dollar-prefixed, empty and dotted field names,
 * 121 document validation, 10334 BSONObjectTooLarge, 17419 update result too large, 17280 index key too long.
 */
const DATA_ERROR_CODES = new Set([2, 9, 14, 52, 56, 57, 121, 10334, 17419, 17280]);

export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && DATA_ERROR_CODES.has(code);
}

/** Network, selection, failover, timeouts and anything unknown retry; only data errors do not. */
export function toSinkError(sink: string, what: string, err: unknown): SinkError {
  if (err instanceof SinkError) return err;
  const transient = !isDataError(err) || (err instanceof MongoError && err.hasErrorLabel('TransientTransactionError'));
  return new SinkError(sink, `${what}: ${redactCredentials(errorMessage(err))}`, transient, { cause: err });
}
