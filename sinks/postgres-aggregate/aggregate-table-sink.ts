import pg from 'pg';
import { adoptRow, type AggregateRow, type FoldedRow } from '../../src/aggregate/sql-rows.js';
import { rowColumnBuffers, rowCount as columnRowCount, toRowColumns, type RowColumns } from '../../src/aggregate/row-columns.js';
import { FoldedTable, foldColumns } from '../../src/aggregate/folded-table.js';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/log/logger.js';
import { utcDayStamp } from '../../src/record/go-time.js';
import { FoldConflictError, SinkError, encodeBatch, type BatchEncoder, type EncodingSink, type RejectedRecord, type SinkBatch, type SinkHealth, type WriteOutcome } from '../sink.js';
import { poolHealth } from '../postgres/pool-health.js';
import { finishOrCancel } from '../postgres/concurrent-index.js';
import { pgClientConfig } from '../postgres/connection-string.js';
import { applyBatchesOnce, ensureLedger } from '../postgres/ledger.js';
import { isTransientPgError } from '../postgres/pg-errors.js';
import { listDailyShards } from '../postgres/retention.js';
import { createIndexConcurrently, createTable, type DimensionIndex } from './tables.js';
import { upsertRows } from './upsert.js';

/*
 * A sink that keeps aggregates in one of Tyk's aggregate tables (tyk_aggregated, tyk_uptime_analytics):
 * records become rows by a pure model, rows are merged into the table by a set-based upsert, and a batch's
 * upserts commit in one transaction with its ledger row, so a redelivered batch changes nothing.
 */

export interface AggregateTableSettings {
  readonly connectionString: string;
  readonly tableSharding: boolean;
  /** Rows per upsert statement. */
  readonly batchSize: number;
  readonly omitIndexCreation: boolean;
  readonly migrateShardedTables: boolean;
}

export interface BatchRows {
  /** Their counters are handed over with them: the sink adds later rows of the same key into them. */
  readonly rows: readonly FoldedRow[];
  /** Records the rows account for (skipped records excluded). */
  readonly counted: number;
}

/** A batch folded in, the records its rows account for (skipped records excluded), and those refused. */
export interface FoldedBatch {
  readonly id: string;
  readonly counted: number;
  readonly rejected: readonly RejectedRecord[];
}

/**
 * What waits in the sink's queue instead of records: the rows one batch adds, as columns (row-columns.ts),
 * or, once batches queued up behind a write have been folded together, the rows they add between them,
 * grouped by table, one per key (folded-table.ts), so a fold takes as much memory as the distinct rows of
 * its batches. The first fold or write turns a batch's columns into tables (foldedTables).
 */
export interface EncodedAggregateBatch {
  /** In the order they were folded. */
  readonly batches: FoldedBatch[];
  columns?: RowColumns | undefined;
  tables?: Map<string, FoldedTable>;
}

/** Tables in name order: concurrent writers take row locks in one order (each table's rows in key order). */
function inLockOrder(tables: ReadonlyMap<string, FoldedTable>): Array<[string, FoldedTable]> {
  return [...tables].sort(([a], [b]) => (a < b ? -1 : 1));
}

function tableRows(tables: Map<string, Map<string, FoldedRow>>, table: string): Map<string, FoldedRow> {
  let rows = tables.get(table);
  if (!rows) tables.set(table, (rows = new Map()));
  return rows;
}

/** The batch's rows folded by table, from its columns the first time. */
export function foldedTables(encoded: EncodedAggregateBatch): Map<string, FoldedTable> {
  if (encoded.tables) return encoded.tables;
  const tables = new Map<string, FoldedTable>();
  if (encoded.columns) foldColumns(tables, encoded.columns);
  encoded.tables = tables;
  encoded.columns = undefined;
  return tables;
}

/**
 * Rows past which a fold takes no more batches: about 6 MB, and about a second of upserts. Per minute, a
 * batch of 1,000 records can add thousands of rows, so a bound in batches would not bound memory.
 */
const MAX_FOLDED_ROWS = 10_000;

/**
 * Memory a row takes, folded or as a batch's columns: 10,000 per-minute rows of the benchmark's backlog,
 * folded from 24 batches' columns, held 120 bytes of heap each (key, map entry, label slots) and 500 of typed
 * arrays (numbers and code_* counts, with room to grow), after a full collection. As objects they held 780
 * bytes of heap each, all of it for the collector to copy while the fold waited for its write.
 */
const BYTES_PER_ROW = 600;

function rowCount(encoded: EncodedAggregateBatch): number {
  if (encoded.columns) return columnRowCount(encoded.columns);
  let rows = 0;
  for (const table of encoded.tables?.values() ?? []) rows += table.size;
  return rows;
}

const nothingWritten = (batch: FoldedBatch): WriteOutcome => ({ written: 0, alreadyApplied: false, rejected: batch.rejected });

/** A batch's records folded into aggregate rows, one record at a time. */
export interface RowAggregation<R> {
  /** Adds the record, or leaves it out and says why it cannot be counted (src/aggregate/addable.ts). */
  add(record: R): string | undefined;
  rows(): BatchRows;
}

export interface AggregateTableConfiguration<R> {
  readonly settings: AggregateTableSettings;
  readonly aggregation: () => RowAggregation<R>;
}

export interface AggregateTableSinkOptions<R> {
  readonly name: string;
  readonly baseTable: string;
  readonly indexColumns: readonly string[];
  /** Reads the pump's settings; throws a permanent SinkError naming a bad key. */
  readonly configure: () => AggregateTableConfiguration<R>;
  readonly logger: Logger;
}

function isUndefinedTable(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '42P01';
}

export class AggregateTableSink<R> implements EncodingSink<R, EncodedAggregateBatch> {
  readonly name: string;
  /** Its rows cross threads as columns (forTransfer). */
  readonly compactEncoding = true;
  readonly readsAggregatedFieldsOnly = true;
  private configuration: AggregateTableConfiguration<R> | undefined;
  private pool: pg.Pool | undefined;
  private backgroundIndex: Promise<void> | undefined;
  /** Aborted at close, after a short grace (finishOrCancel): a long build is cancelled, not waited for. */
  private readonly indexBuild = new AbortController();
  private readonly ensuredTables = new Set<string>();

  constructor(private readonly options: AggregateTableSinkOptions<R>) {
    this.name = options.name;
  }

  private fail(err: unknown, what: string): SinkError {
    if (err instanceof SinkError) return err;
    return new SinkError(this.name, `${what}: ${errorMessage(err)}`, isTransientPgError(err), { cause: err });
  }

  private get index(): DimensionIndex | undefined {
    return this.configuration!.settings.omitIndexCreation ? undefined : { columns: this.options.indexColumns };
  }

  async open(): Promise<void> {
    this.configuration ??= this.options.configure();
    const { settings } = this.configuration;
    if (!this.pool) {
      this.pool = new pg.Pool({ ...pgClientConfig(settings.connectionString), max: 4, connectionTimeoutMillis: 10_000 });
      this.pool.on('error', (err) => this.options.logger.warn({ sink: this.name, err: err.message }, 'idle PostgreSQL connection failed'));
    }
    try {
      await ensureLedger(this.pool);
      if (!settings.tableSharding) await this.prepareMainTable(this.pool);
      else if (settings.migrateShardedTables) await this.migrateShards(this.pool);
    } catch (err) {
      throw this.fail(err, 'preparing tables');
    }
  }

  /** The unsharded table may be large already: its index is built concurrently, in the background. */
  private async prepareMainTable(pool: pg.Pool): Promise<void> {
    const table = this.options.baseTable;
    await createTable(pool, table, undefined);
    this.ensuredTables.add(table);
    const index = this.index;
    if (index && !this.backgroundIndex) {
      this.backgroundIndex = createIndexConcurrently(pool, table, index, this.indexBuild.signal).then(
        (outcome) => {
          if (outcome === 'rebuilt') this.options.logger.warn({ sink: this.name, table }, 'rebuilt the dimension index a failed build had left invalid');
        },
        (err: unknown) => {
          if (this.indexBuild.signal.aborted) this.options.logger.info({ sink: this.name, table }, 'dimension index build cancelled at close; the next start builds it');
          else this.options.logger.warn({ sink: this.name, table, err: errorMessage(err) }, 'dimension index creation failed');
        },
      );
    }
  }

  /** migrate_sharded_tables: bring every existing daily shard up to date; as in Tyk, failures only warn. */
  private async migrateShards(pool: pg.Pool): Promise<void> {
    for (const { table } of await listDailyShards(pool, this.options.baseTable)) {
      try {
        await this.ensureTable(table);
      } catch (err) {
        this.options.logger.warn({ sink: this.name, table, err: errorMessage(err) }, 'migrating a daily shard failed');
      }
    }
  }

  private async ensureTable(table: string): Promise<void> {
    if (this.ensuredTables.has(table)) return;
    await createTable(this.pool!, table, this.index);
    this.ensuredTables.add(table);
  }

  private tableFor(row: AggregateRow): string {
    const base = this.options.baseTable;
    return this.configuration!.settings.tableSharding ? `${base}_${utcDayStamp({ sec: row.timestampSec, nsec: 0 })}` : base;
  }

  private tablesOf(rows: readonly FoldedRow[]): Map<string, Map<string, FoldedRow>> {
    const tables = new Map<string, Map<string, FoldedRow>>();
    for (const row of rows) adoptRow(tableRows(tables, this.tableFor(row)), row);
    return tables;
  }

  /** Aggregates the batch into rows; pure, since the settings are read once from the pump's config. */
  encoder(batchId: string): BatchEncoder<R, EncodedAggregateBatch> {
    this.configuration ??= this.options.configure();
    const aggregation = this.configuration.aggregation();
    const rejected: RejectedRecord[] = [];
    return {
      add: ({ id, record }) => {
        const refusal = aggregation.add(record);
        if (refusal !== undefined) rejected.push({ recordId: id, reason: `${this.name}: ${refusal}` });
      },
      finish: () => {
        const { rows, counted } = aggregation.rows();
        return { batches: [{ id: batchId, counted, rejected }], columns: toRowColumns(this.tablesOf(rows)) };
      },
    };
  }

  write(batch: SinkBatch<R>, signal: AbortSignal): Promise<WriteOutcome> {
    return this.writeEncoded(encodeBatch(this, batch), signal);
  }

  async writeEncoded(batch: EncodedAggregateBatch, signal: AbortSignal): Promise<WriteOutcome> {
    return (await this.writeFolded(batch, signal))[0]!;
  }

  /** Rows by the hundred cost the main thread less as columns than as cloned objects (row-columns.ts). */
  forTransfer(encoded: EncodedAggregateBatch): { encoded: EncodedAggregateBatch; transfer: ArrayBuffer[] } {
    return { encoded, transfer: encoded.columns ? rowColumnBuffers(encoded.columns) : [] };
  }

  /**
   * Merges `next`'s rows into `into`'s, row by row, in place; undefined once `into` holds enough rows, or
   * when `next` was folded already (a write of it alone began), which then goes alone.
   */
  fold(into: EncodedAggregateBatch, next: EncodedAggregateBatch): EncodedAggregateBatch | undefined {
    if (rowCount(into) >= MAX_FOLDED_ROWS || !next.columns) return undefined;
    const tables = foldedTables(into);
    into.batches.push(...next.batches);
    foldColumns(tables, next.columns);
    return into;
  }

  heapBytes(encoded: EncodedAggregateBatch): number {
    return rowCount(encoded) * BYTES_PER_ROW;
  }

  /**
   * The rows of one batch or of a fold, as one upsert per table, in one transaction with the batches'
   * ledger rows: a backlog written as a fold touches each row once instead of once per batch.
   */
  async writeFolded(folded: EncodedAggregateBatch, signal: AbortSignal): Promise<WriteOutcome[]> {
    const pool = this.pool;
    if (!pool || !this.configuration) throw new SinkError(this.name, 'write before open', true);
    const { batchSize } = this.configuration.settings;
    const tables = foldedTables(folded);
    if (tables.size === 0) return folded.batches.map(nothingWritten);
    const ids = folded.batches.map((b) => b.id);
    try {
      for (const table of tables.keys()) await this.ensureTable(table);
      const fresh = await applyBatchesOnce(pool, this.name, ids, async (client, applying) => {
        if (applying.size < ids.length) throw new FoldConflictError(this.name, ids.filter((id) => !applying.has(id)), ids.length);
        for (const [table, rows] of inLockOrder(tables)) await upsertRows(client, table, rows, batchSize);
      }, signal);
      return folded.batches.map((b) => (fresh.has(b.id) ? { written: b.counted, alreadyApplied: false, rejected: b.rejected } : { written: 0, alreadyApplied: true, rejected: [] }));
    } catch (err) {
      if (err instanceof FoldConflictError) throw err;
      const what = `writing batch${ids.length > 1 ? 'es' : ''} ${ids.join(', ')}`;
      if (signal.aborted) throw new SinkError(this.name, `write cancelled: ${errorMessage(signal.reason ?? err)}`, true, { cause: err });
      if (isUndefinedTable(err)) {
        // Retention (or an operator) dropped a table this sink had ensured: ensure again on the retry.
        this.ensuredTables.clear();
        throw new SinkError(this.name, `${what}: ${errorMessage(err)}`, true, { cause: err });
      }
      throw this.fail(err, what);
    }
  }

  health(): Promise<SinkHealth> {
    return poolHealth(this.pool);
  }

  async close(): Promise<void> {
    await finishOrCancel(this.backgroundIndex, this.indexBuild);
    await this.pool?.end();
    this.pool = undefined;
  }
}
