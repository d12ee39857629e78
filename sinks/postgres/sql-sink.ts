import pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { isMcpRecord } from '../../src/record/analytics-record.js';
import { utcDayStamp } from '../../src/record/go-time.js';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/log/logger.js';
import { SinkError, encodeBatch, type BatchEncoder, type EncodingSink, type RejectedRecord, type SinkBatch, type SinkHealth, type WriteOutcome } from '../sink.js';
import { COLUMN_DEFINITIONS, COLUMN_LIST, INDEXED_COLUMNS, quoteIdent } from './columns.js';
import { CopyRowsWriter, copyChunks, sliceRows, type CopyRows } from './copy-rows.js';
import { applyBatchOnce, ensureLedger } from './ledger.js';
import { creatingTable } from './table-creation.js';
import { buildIndexConcurrently, finishOrCancel } from './concurrent-index.js';
import { isRowRejection, isTransientPgError } from './pg-errors.js';
import { pgClientConfig } from './connection-string.js';
import { fillPlaceholders, sqlStatement } from './sql.js';
import { poolHealth } from './pool-health.js';

const CREATE_TABLE = sqlStatement(import.meta.url, 'create-analytics-table');
const CREATE_INDEX = sqlStatement(import.meta.url, 'create-analytics-index');
const CREATE_INDEX_CONCURRENTLY = sqlStatement(import.meta.url, 'create-analytics-index-concurrently');
const COPY_ROWS = sqlStatement(import.meta.url, 'copy-analytics-rows');

export interface SqlSinkOptions {
  name: string;
  connectionString: string;
  tableName: string;
  tableSharding: boolean;
  omitIndexCreation: boolean;
  logger: Logger;
}

/** A batch as COPY binary rows, one part per table it touches. */
export interface EncodedAnalyticsBatch {
  readonly id: string;
  readonly tables: readonly CopyRows[];
}

function bind(statement: string, table: string, extra: Record<string, string> = {}): string {
  return fillPlaceholders(statement, { $TABLE: quoteIdent(table), ...extra });
}

/**
 * Tyk's `sql` pump for PostgreSQL: raw records into tyk_analytics (or daily shards) by COPY, each batch
 * in one transaction with its ledger row, so a redelivered batch is skipped. A row the server refuses is
 * found by bisection inside the transaction and reported; its batch-mates commit.
 */
export class SqlSink implements EncodingSink<AnalyticsRecord, EncodedAnalyticsBatch> {
  readonly name: string;
  /** COPY rows in one Buffer per table. */
  readonly compactEncoding = true;
  private pool: pg.Pool | undefined;
  private readonly ensuredTables = new Set<string>();
  private backgroundIndexes: Promise<void> | undefined;
  /** Aborted at close, after a short grace (finishOrCancel): a long build is cancelled, not waited for. */
  private readonly indexBuild = new AbortController();

  constructor(private readonly options: SqlSinkOptions) {
    this.name = options.name;
  }

  private fail(err: unknown, what: string): SinkError {
    if (err instanceof SinkError) return err;
    return new SinkError(this.name, `${what}: ${errorMessage(err)}`, isTransientPgError(err), { cause: err });
  }

  async open(): Promise<void> {
    if (!this.pool) {
      this.pool = new pg.Pool({ ...pgClientConfig(this.options.connectionString), max: 4, connectionTimeoutMillis: 10_000 });
      this.pool.on('error', (err) => this.options.logger.warn({ sink: this.name, err: err.message }, 'idle PostgreSQL connection failed'));
    }
    try {
      await ensureLedger(this.pool);
      if (!this.options.tableSharding) await this.ensureTable(this.options.tableName, true);
    } catch (err) {
      throw this.fail(err, 'preparing tables');
    }
  }

  private tableFor(record: AnalyticsRecord): string {
    const base = this.options.tableName;
    return this.options.tableSharding ? `${base}_${utcDayStamp(record.timestamp)}` : base;
  }

  private async ensureTable(table: string, existingMayHoldData = false): Promise<void> {
    if (this.ensuredTables.has(table)) return;
    const pool = this.pool!;
    const indexes = this.options.omitIndexCreation ? [] : INDEXED_COLUMNS.map((column) => ({
      column, placeholders: { $INDEX: quoteIdent(`${table}_idx_${column}`), $COLUMN: quoteIdent(column) },
    }));
    await creatingTable(pool, table, async (client) => {
      await client.query(bind(CREATE_TABLE, table, { $COLUMNS: COLUMN_DEFINITIONS }));
      if (!existingMayHoldData) for (const i of indexes) await client.query(bind(CREATE_INDEX, table, i.placeholders));
    });
    if (existingMayHoldData && indexes.length > 0) {
      // Building on a full table must not block the gateway's analytics: concurrently, in the background,
      // one index at a time (concurrent builds on one table wait for each other and deadlock), outside any
      // transaction, as CONCURRENTLY requires. Workers starting together still race, and the loser's build
      // fails: it goes on with the next index, and the next open repairs what is left invalid.
      this.backgroundIndexes = (async () => {
        for (const i of indexes) {
          if (this.indexBuild.signal.aborted) return;
          const name = `${table}_idx_${i.column}`;
          await buildIndexConcurrently(pool, name, bind(CREATE_INDEX_CONCURRENTLY, table, i.placeholders), this.indexBuild.signal).then(
            (outcome) => {
              if (outcome === 'rebuilt') this.options.logger.warn({ sink: this.name, table, index: name }, 'rebuilt an index a failed build had left invalid');
            },
            (err: unknown) => {
              if (this.indexBuild.signal.aborted) this.options.logger.info({ sink: this.name, table, index: name }, 'index build cancelled at close; the next start builds it');
              else this.options.logger.warn({ sink: this.name, table, index: name, err: errorMessage(err) }, 'index creation failed');
            },
          );
        }
      })();
    }
    this.ensuredTables.add(table);
  }

  encoder(batchId: string, expectedBytes: number): BatchEncoder<AnalyticsRecord, EncodedAnalyticsBatch> {
    const writers = new Map<string, CopyRowsWriter>();
    return {
      add: ({ id, record }) => {
        if (isMcpRecord(record)) return;
        const table = this.tableFor(record);
        let writer = writers.get(table);
        // A row takes about as many bytes as its record did on the wire, so the batch's raw size is a good
        // first guess for a table's rows; the writer grows past it, or gives back the excess when it finishes.
        if (!writer) writers.set(table, (writer = new CopyRowsWriter(table, expectedBytes)));
        writer.add(id, record);
      },
      finish: () => ({ id: batchId, tables: [...writers.values()].map((w) => w.finish()) }),
    };
  }

  write(batch: SinkBatch<AnalyticsRecord>, signal: AbortSignal): Promise<WriteOutcome> {
    return this.writeEncoded(encodeBatch(this, batch), signal);
  }

  /** Each table's COPY rows sit alone in their ArrayBuffer (copy-rows.ts). */
  forTransfer(batch: EncodedAnalyticsBatch): { encoded: EncodedAnalyticsBatch; transfer: ArrayBuffer[] } {
    return { encoded: batch, transfer: batch.tables.map((rows) => rows.tuples.buffer as ArrayBuffer) };
  }

  async writeEncoded(batch: EncodedAnalyticsBatch, signal: AbortSignal): Promise<WriteOutcome> {
    const pool = this.pool;
    if (!pool) throw new SinkError(this.name, 'write before open', true);
    const rejected: RejectedRecord[] = [];
    let written = 0;
    try {
      for (const { table } of batch.tables) await this.ensureTable(table);
      const applied = await applyBatchOnce(pool, this.name, batch.id, async (client) => {
        for (const rows of batch.tables) {
          const refused = await copyIsolatingRejects(client, rows);
          rejected.push(...rows.refused, ...refused);
          written += rows.ids.length - refused.length;
        }
      }, signal);
      return { written: applied ? written : 0, alreadyApplied: !applied, rejected: applied ? rejected : [] };
    } catch (err) {
      if (signal.aborted) throw new SinkError(this.name, `write cancelled: ${errorMessage(signal.reason ?? err)}`, true, { cause: err });
      throw this.fail(err, `writing batch ${batch.id}`);
    }
  }

  health(): Promise<SinkHealth> {
    return poolHealth(this.pool);
  }

  async close(): Promise<void> {
    await finishOrCancel(this.backgroundIndexes, this.indexBuild);
    await this.pool?.end();
    this.pool = undefined;
  }
}

async function copyRows(client: pg.PoolClient, rows: CopyRows): Promise<void> {
  const stream = client.query(copyFrom(bind(COPY_ROWS, rows.table, { $COLUMNS: COLUMN_LIST })));
  // The rows in one chunk: a write per row costs more than the COPY itself.
  await pipeline(Readable.from(copyChunks(rows)), stream);
}

/**
 * COPY under a savepoint; when the server refuses a row's values, roll back to the savepoint and split,
 * until the refused rows stand alone. A clean batch costs one COPY.
 */
async function copyIsolatingRejects(client: pg.PoolClient, rows: CopyRows): Promise<RejectedRecord[]> {
  await client.query('SAVEPOINT sluice_copy');
  try {
    await copyRows(client, rows);
    await client.query('RELEASE SAVEPOINT sluice_copy');
    return [];
  } catch (err) {
    if (!isRowRejection(err)) throw err;
    await client.query('ROLLBACK TO SAVEPOINT sluice_copy');
    await client.query('RELEASE SAVEPOINT sluice_copy');
    const count = rows.ids.length;
    if (count === 1) return [{ recordId: rows.ids[0]!, reason: `${rows.table}: ${errorMessage(err)}` }];
    const half = Math.ceil(count / 2);
    return [
      ...(await copyIsolatingRejects(client, sliceRows(rows, 0, half))),
      ...(await copyIsolatingRejects(client, sliceRows(rows, half, count))),
    ];
  }
}
