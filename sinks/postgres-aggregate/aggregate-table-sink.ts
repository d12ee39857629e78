import pg from 'pg';
import { byRowId, mergeRowsById, type AggregateRow } from '../../src/aggregate/sql-rows.js';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/log/logger.js';
import { utcDayStamp } from '../../src/record/go-time.js';
import { SinkError, encodeBatch, type BatchEncoder, type EncodingSink, type SinkBatch, type SinkHealth, type WriteOutcome } from '../sink.js';
import { poolHealth } from '../postgres/pool-health.js';
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
  readonly rows: readonly AggregateRow[];
  /** Records the rows account for (skipped records excluded). */
  readonly counted: number;
}

type TableRows = readonly [table: string, rows: AggregateRow[]];

/** A batch as the rows it adds, grouped by table: what waits in the sink's queue instead of its records. */
export interface EncodedAggregateBatch {
  readonly id: string;
  readonly tables: readonly TableRows[];
  readonly counted: number;
}

/** Tables in name order, each one's rows in id order: concurrent writers take row locks in one order. */
function inLockOrder(tables: Map<string, AggregateRow[]>): TableRows[] {
  return [...tables].sort(([a], [b]) => (a < b ? -1 : 1)).map(([table, rows]) => [table, rows.sort(byRowId)]);
}

/** The batches' rows per table, one row per id; a lone batch's rows are unique already. */
function mergeTables(batches: readonly EncodedAggregateBatch[]): TableRows[] {
  if (batches.length === 1) return inLockOrder(new Map(batches[0]!.tables.map(([table, rows]) => [table, [...rows]])));
  const groups = new Map<string, AggregateRow[]>();
  for (const { tables } of batches) {
    for (const [table, rows] of tables) {
      let group = groups.get(table);
      if (!group) groups.set(table, (group = []));
      // A loop, not push(...rows): a batch's rows can outnumber the arguments a call may take.
      for (const row of rows) group.push(row);
    }
  }
  for (const [table, rows] of groups) groups.set(table, mergeRowsById(rows));
  return inLockOrder(groups);
}

function firstOfEachId(batches: readonly EncodedAggregateBatch[]): EncodedAggregateBatch[] {
  const seen = new Set<string>();
  return batches.filter((b) => !seen.has(b.id) && seen.add(b.id));
}

/** A batch's records folded into aggregate rows, one record at a time. */
export interface RowAggregation<R> {
  add(record: R): void;
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
  /** Rows of counters, merged across batches at write time. */
  readonly compactEncoding = false;
  private configuration: AggregateTableConfiguration<R> | undefined;
  private pool: pg.Pool | undefined;
  private backgroundIndex: Promise<void> | undefined;
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
      this.backgroundIndex = createIndexConcurrently(pool, table, index).catch((err) => {
        this.options.logger.warn({ sink: this.name, table, err: errorMessage(err) }, 'dimension index creation failed');
      });
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

  private rowsByTable(rows: readonly AggregateRow[]): TableRows[] {
    const groups = new Map<string, AggregateRow[]>();
    for (const row of rows) {
      const table = this.tableFor(row);
      let group = groups.get(table);
      if (!group) groups.set(table, (group = []));
      group.push(row);
    }
    return [...groups].map(([table, tableRows]) => [table, mergeRowsById(tableRows)]);
  }

  /** Aggregates the batch into rows; pure, since the settings are read once from the pump's config. */
  encoder(batchId: string): BatchEncoder<R, EncodedAggregateBatch> {
    this.configuration ??= this.options.configure();
    const aggregation = this.configuration.aggregation();
    return {
      add: ({ record }) => aggregation.add(record),
      finish: () => {
        const { rows, counted } = aggregation.rows();
        return { id: batchId, tables: this.rowsByTable(rows), counted };
      },
    };
  }

  write(batch: SinkBatch<R>, signal: AbortSignal): Promise<WriteOutcome> {
    return this.writeEncoded(encodeBatch(this, batch), signal);
  }

  async writeEncoded(batch: EncodedAggregateBatch, signal: AbortSignal): Promise<WriteOutcome> {
    return (await this.writeEncodedTogether([batch], signal))[0]!;
  }

  /**
   * The batches' rows merged into one upsert per table, in one transaction with their ledger rows. Rows of
   * the same bucket and dimension value in different batches become one row, so a backlog written
   * together touches each row once instead of once per batch.
   */
  async writeEncodedTogether(batches: readonly EncodedAggregateBatch[], signal: AbortSignal): Promise<WriteOutcome[]> {
    const pool = this.pool;
    if (!pool || !this.configuration) throw new SinkError(this.name, 'write before open', true);
    const { batchSize } = this.configuration.settings;
    const withRows = batches.filter((b) => b.tables.length > 0);
    if (withRows.length === 0) return batches.map(() => ({ written: 0, alreadyApplied: false, rejected: [] }));
    const ids = withRows.map((b) => b.id);
    try {
      for (const table of new Set(withRows.flatMap((b) => b.tables.map(([t]) => t)))) await this.ensureTable(table);
      const fresh = await applyBatchesOnce(pool, this.name, [...new Set(ids)], async (client, applying) => {
        const tables = mergeTables(firstOfEachId(withRows).filter((b) => applying.has(b.id)));
        for (const [table, rows] of tables) await upsertRows(client, table, rows, batchSize);
      }, signal);
      const counted = new Set<string>();
      return batches.map((b) => {
        if (b.tables.length === 0) return { written: 0, alreadyApplied: false, rejected: [] };
        // The same batch twice in one group (a take-over raced its owner) is applied once.
        const applied = fresh.has(b.id) && !counted.has(b.id);
        counted.add(b.id);
        return { written: applied ? b.counted : 0, alreadyApplied: !applied, rejected: [] };
      });
    } catch (err) {
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
    await this.backgroundIndex;
    await this.pool?.end();
    this.pool = undefined;
  }
}
