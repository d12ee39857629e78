import pg from 'pg';
import { mergeRowsById, type AggregateRow } from '../../src/aggregate/sql-rows.js';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/log/logger.js';
import { utcDayStamp } from '../../src/record/go-time.js';
import { SinkError, type Sink, type SinkBatch, type SinkHealth, type WriteOutcome } from '../sink.js';
import { poolHealth } from '../postgres/pool-health.js';
import { pgClientConfig } from '../postgres/connection-string.js';
import { applyBatchOnce, ensureLedger } from '../postgres/ledger.js';
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

export interface AggregateTableConfiguration<R> {
  readonly settings: AggregateTableSettings;
  readonly rowsFor: (records: readonly R[]) => BatchRows;
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

export class AggregateTableSink<R> implements Sink<R> {
  readonly name: string;
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

  /** Rows per table, ids unique and sorted, tables in name order: concurrent writers lock in one order. */
  private rowsByTable(rows: readonly AggregateRow[]): Array<[string, AggregateRow[]]> {
    const groups = new Map<string, AggregateRow[]>();
    for (const row of rows) {
      const table = this.tableFor(row);
      let group = groups.get(table);
      if (!group) groups.set(table, (group = []));
      group.push(row);
    }
    return [...groups].sort(([a], [b]) => (a < b ? -1 : 1)).map(([table, group]) => [table, mergeRowsById(group)]);
  }

  async write(batch: SinkBatch<R>, signal: AbortSignal): Promise<WriteOutcome> {
    const pool = this.pool;
    if (!pool || !this.configuration) throw new SinkError(this.name, 'write before open', true);
    const { settings, rowsFor } = this.configuration;
    const { rows, counted } = rowsFor(batch.records.map((r) => r.record));
    if (rows.length === 0) return { written: 0, alreadyApplied: false, rejected: [] };
    const tables = this.rowsByTable(rows);
    try {
      for (const [table] of tables) await this.ensureTable(table);
      const applied = await applyBatchOnce(pool, this.name, batch.id, async (client) => {
        for (const [table, tableRows] of tables) await upsertRows(client, table, tableRows, settings.batchSize);
      }, signal);
      return { written: applied ? counted : 0, alreadyApplied: !applied, rejected: [] };
    } catch (err) {
      if (signal.aborted) throw new SinkError(this.name, `write cancelled: ${errorMessage(signal.reason ?? err)}`, true, { cause: err });
      if (isUndefinedTable(err)) {
        // Retention (or an operator) dropped a table this sink had ensured: ensure again on the retry.
        this.ensuredTables.clear();
        throw new SinkError(this.name, `writing batch ${batch.id}: ${errorMessage(err)}`, true, { cause: err });
      }
      throw this.fail(err, `writing batch ${batch.id}`);
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
