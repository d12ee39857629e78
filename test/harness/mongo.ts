import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MongoClient, type CommandStartedEvent, type Db, type Document } from 'mongodb';
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';
import { pino } from 'pino';
import type { SinkContext } from '../../sinks/context.js';
import type { PumpConfig, PumpConfiguration } from '../../src/config/types.js';
import type { SinkBatch } from '../../sinks/sink.js';
import { batchId, recordIds } from '../../src/pipeline/identity.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { timeFromMillis } from '../../src/record/go-time.js';
import type { MongoSinkHooks } from '../../sinks/mongo/connection.js';

/*
 * A Mongo for one test file: the real MongoDB at MONGO_URL when it is set, otherwise CongoDB, an
 * in-process MongoDB wire server. Each file gets a database of its own. Every command the harness client
 * and the sinks under test send is collected, because CongoDB accepts capped collections, TTL and unique
 * indexes and transactions without honouring them: on CongoDB a test can only check what Sluice asked for.
 */

export interface MongoTestServer {
  /** True for a real MongoDB (MONGO_URL); false for CongoDB. */
  readonly real: boolean;
  readonly kind: 'MongoDB' | 'CongoDB';
  /** mongodb:// URL whose path is this file's database. */
  readonly url: string;
  readonly database: string;
  readonly client: MongoClient;
  readonly db: Db;
  /** Every commandStarted event, from the harness client and from sinks opened with `hooks`. */
  readonly commands: CommandStartedEvent[];
  /** Pass to a sink factory so its commands land in `commands`. */
  readonly hooks: MongoSinkHooks;
  /** Commands named `name` sent since the last `clearCommands()`. */
  sent(name: string): Document[];
  /** Every index Sluice asked for since the last `clearCommands()`, with its key as a plain object. */
  sentIndexes(): Document[];
  clearCommands(): void;
  /** True when the server is a replica set and so runs transactions. */
  replicaSet(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, database: string): string {
  const [base, query] = url.split('?') as [string, string | undefined];
  const host = base.replace(/^(mongodb(?:\+srv)?:\/\/[^/]*).*$/, '$1');
  return `${host}/${database}${query ? `?${query}` : ''}`;
}

export async function startMongo(fileTag: string): Promise<MongoTestServer> {
  const database = `sluice_${fileTag.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(3).toString('hex')}`;
  let congo: CongoServer | undefined;
  let baseUrl = process.env.MONGO_URL;
  if (!baseUrl) {
    congo = new CongoServer({ port: await freePort(), storage: 'memory' });
    await congo.start();
    // CongoDB does not stream hello replies (exhaust); polling keeps the driver's monitor from resetting pools.
    baseUrl = `${congo.getConnectionUri()}/?serverMonitoringMode=poll`;
  }
  const real = congo === undefined;
  const url = withDatabase(baseUrl, database);
  const commands: CommandStartedEvent[] = [];
  const onCommand = (event: CommandStartedEvent) => commands.push(event);
  const client = new MongoClient(url, { monitorCommands: true, serverSelectionTimeoutMS: 5000 });
  client.on('commandStarted', onCommand);
  await client.connect();
  const db = client.db(database);
  console.log(`[mongo harness] ${fileTag}: ${real ? 'real MongoDB (MONGO_URL)' : 'CongoDB (in-process; capped, TTL, unique and transactions are checked through the commands sent only)'}; database ${database}`);
  let cutoff = 0;
  return {
    real,
    kind: real ? 'MongoDB' : 'CongoDB',
    url,
    database,
    client,
    db,
    commands,
    hooks: { onCommand },
    sent: (name) => commands.slice(cutoff).filter((c) => c.commandName === name).map((c) => c.command),
    sentIndexes: () =>
      commands.slice(cutoff).filter((c) => c.commandName === 'createIndexes').flatMap((c) =>
        (c.command.indexes as Document[]).map((i) => ({ ...i, collection: c.command.createIndexes, key: Object.fromEntries(i.key instanceof Map ? i.key : Object.entries(i.key)) }))),
    clearCommands: () => {
      cutoff = commands.length;
    },
    replicaSet: async () => typeof (await db.command({ hello: 1 })).setName === 'string',
    stop: async () => {
      if (real) await db.dropDatabase().catch(() => {});
      await client.close();
      await congo?.stop();
    },
  };
}

/** A SinkContext whose logger records lines for assertions instead of printing them. */
export function testSinkContext(): SinkContext & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) };
  const logger = pino({ level: 'debug' }, destination as unknown as NodeJS.WritableStream);
  return { logger, config: {} as PumpConfiguration, lines };
}

/** Tells the reader which server a check ran against; a skipped real-MongoDB check says so too. */
export function realMongoOnly(server: MongoTestServer, what: string): boolean {
  if (!server.real) console.log(`[mongo harness] SKIPPED on CongoDB, needs real MongoDB (set MONGO_URL): ${what}`);
  return server.real;
}

/** A pump as the config loader produces it, with `meta` as given. */
export function mongoPump(type: string, meta: Record<string, unknown>, name = type.toUpperCase()): PumpConfig {
  return {
    name,
    type,
    filters: { org_ids: [], api_ids: [], response_codes: [], skip_org_ids: [], skip_api_ids: [], skip_response_codes: [] },
    timeout: 0,
    omit_detailed_recording: false,
    max_record_size: 0,
    ignore_fields: [],
    meta,
  };
}

/** A batch whose ids are derived from `records` the way the pipeline derives them from raw bytes. */
export function batchOf<R>(records: readonly R[], rawBytes?: readonly Uint8Array[]): SinkBatch<R> {
  const raw = rawBytes ?? records.map((r) => Buffer.from(JSON.stringify(r)));
  const ids = recordIds(raw);
  return { id: batchId(ids), records: records.map((record, i) => ({ id: ids[i]!, record, bytes: raw[i]!.length })) };
}

export const neverAborted = new AbortController().signal;

/** A plain 200 GET on api1 of org 123 at `when`; override what a test is about. */
export function analyticsRecord(overrides: Partial<AnalyticsRecord> = {}, when = Date.UTC(2024, 4, 10, 12, 0, 0)): AnalyticsRecord {
  const d = new Date(when);
  const timestamp = timeFromMillis(when);
  return {
    method: 'GET', host: 'api.example.com', path: '/get', raw_path: '/get', content_length: 0, user_agent: 'test',
    day: d.getUTCDate(), month: d.getUTCMonth() + 1, year: d.getUTCFullYear(), hour: d.getUTCHours(),
    response_code: 200, api_key: '', timestamp, api_version: '', api_name: 'API One', api_id: 'api1', org_id: '123',
    oauth_id: '', request_time: 10, raw_request: '', raw_response: '', ip_address: '127.0.0.1',
    geo: { country: { iso_code: '' }, city: { geoname_id: 0, names: null }, location: { latitude: 0, longitude: 0, time_zone: '' } },
    network: { open_connections: 0, closed_connections: 0, bytes_in: 0, bytes_out: 0 },
    latency: { total: 10, upstream: 8, gateway: 2 },
    tags: null, alias: '', track_path: false, expireAt: timeFromMillis(when + 7 * 24 * 3600 * 1000), api_schema: '',
    original_path: '', listen_path: '',
    graphql_stats: { Variables: '', RootFields: null, Types: null, Errors: null, OperationType: 0, HasErrors: false, IsGraphQL: false },
    mcp_stats: { is_mcp: false, jsonrpc_method: '', primitive_type: '', primitive_name: '' },
    ...overrides,
  };
}
