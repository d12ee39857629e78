import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import type { PumpConfig } from '../../src/config/types.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { prepareBatch, preparesOffThread, type PreparingRoute } from '../../src/pipeline/prepare-batch.js';
import { processForPump } from '../../src/pipeline/process.js';
import { batchId, recordIds } from '../../src/pipeline/identity.js';
import { decodeAnalyticsMsgpack } from '../../src/decode/msgpack.js';
import { SqlSink, type EncodedAnalyticsBatch } from '../../sinks/postgres/sql-sink.js';
import { createSqlAggregateSink } from '../../sinks/postgres-aggregate/index.js';
import { encodeBatch, type BatchEncoder, type EncodingSink, type Sink, type SinkRecord } from '../../sinks/sink.js';
import type { EncodedAggregateBatch } from '../../sinks/postgres-aggregate/aggregate-table-sink.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';

/*
 * Batch preparation as a pure step: real decoders and the real sinks' encoders (never opened), stand-ins
 * only for a sink that takes records and one whose encoder breaks.
 */

const logger = createLogger({ level: 'silent' });
const fixtures = analyticsMsgpackFixtures();
const elements = fixtures.map((f) => f.bytes);
const garbage = [Buffer.from([0xc1]), Buffer.from('not msgpack at all'), Buffer.from([0x81, 0xa6])];

const sqlSink = () => new SqlSink({ name: 'SQL', connectionString: 'postgres://unused/db', tableName: 'tyk_analytics', tableSharding: true, omitIndexCreation: false, logger });

function pump(patch: Partial<PumpConfig> = {}): PumpConfig {
  return {
    name: 'P', type: 'sql', meta: { type: 'postgres', connection_string: 'postgres://unused/db' }, timeout: 0,
    omit_detailed_recording: false, max_record_size: 0, ignore_fields: [],
    filters: { api_ids: [], org_ids: [], response_codes: [], skip_api_ids: [], skip_org_ids: [], skip_response_codes: [] },
    ...patch,
  } as PumpConfig;
}

const everything = (sink: Sink<unknown>): PreparingRoute => ({ sink, prepare: (record) => record });

function filtered(sink: Sink<unknown>, filters: Partial<PumpConfig['filters']>): PreparingRoute {
  const options = { pump: pump({ filters: { ...pump().filters, ...filters } }), globalMaxRecordSize: 0, globalOmitDetailedRecording: false };
  return { sink, prepare: (record) => processForPump(record as SinkRecord<AnalyticsRecord>, options) };
}

/** A sink that takes records as they are (as the MongoDB sinks do). */
class RecordsSink implements Sink<unknown> {
  readonly name = 'RECORDS';
  async open() {}
  async close() {}
  async health() {
    return { ok: true };
  }
  async write() {
    return { written: 0, alreadyApplied: false, rejected: [] };
  }
}

/** An encoding sink whose encoder breaks on the nth record. */
class BreakingSink extends RecordsSink implements EncodingSink<unknown, number> {
  readonly compactEncoding = true;
  constructor(private readonly breakAt: number) {
    super();
  }
  encoder(): BatchEncoder<unknown, number> {
    let seen = 0;
    return {
      add: () => {
        if (++seen === this.breakAt) throw new RangeError(`record ${seen} is too odd`);
      },
      finish: () => seen,
    };
  }
  async writeEncoded() {
    return { written: 0, alreadyApplied: false, rejected: [] };
  }
}

const decodedFixtures = (): Array<SinkRecord<unknown>> => {
  const ids = recordIds(elements);
  return elements.map((e, i) => ({ id: ids[i]!, record: decodeAnalyticsMsgpack(e), bytes: e.length }));
};

describe('prepareBatch', () => {
  it('decodes every fixture once and gives each sink its share', () => {
    const prepared = prepareBatch(elements, 'msgpack', 'k', [everything(sqlSink()), filtered(new RecordsSink(), { response_codes: [200] })]);
    expect(prepared.decoded).toBe(fixtures.length);
    expect(prepared.letters).toEqual([]);
    expect(prepared.elementIds).toEqual(recordIds(elements));
    const [sql, records] = prepared.shares;
    expect(sql!.recordIds).toEqual(prepared.elementIds);
    const ok = fixtures.filter((f) => f.record.response_code === 200);
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.length).toBeLessThan(fixtures.length);
    expect(records!.recordIds).toHaveLength(ok.length);
    expect(records!.content.kind).toBe('records');
  });

  it('encodes record by record exactly as the whole batch encodes', () => {
    const aggregate = createSqlAggregateSink(pump({ type: 'sql_aggregate' }), { logger, config: {} as never }) as EncodingSink<unknown, EncodedAggregateBatch>;
    const sql = sqlSink() as EncodingSink<unknown, EncodedAnalyticsBatch>;
    const prepared = prepareBatch(elements, 'msgpack', 'k', [everything(sql), everything(aggregate)]);
    const batch = { id: prepared.id, records: decodedFixtures() };
    const [sqlShare, aggregateShare] = prepared.shares.map((s) => s.content);
    expect(sqlShare).toEqual({ kind: 'encoded', encoded: encodeBatch(sql, batch) });
    expect(aggregateShare).toEqual({ kind: 'encoded', encoded: encodeBatch(aggregate, batch) });
    // Sharded by day: the fixtures span several days, so several COPY parts, every row in one of them.
    const tables = (sqlShare as { encoded: EncodedAnalyticsBatch }).encoded.tables;
    expect(tables.length).toBeGreaterThan(1);
    expect(tables.reduce((n, t) => n + t.ids.length, 0)).toBe(fixtures.filter((f) => !f.record.mcp_stats.is_mcp).length);
  });

  it('keeps elements that do not decode as letters with their reasons, and the rest goes on', () => {
    const mixed = [elements[0]!, garbage[0]!, elements[1]!, garbage[1]!, garbage[2]!, elements[2]!];
    const prepared = prepareBatch(mixed, 'msgpack', 'the-key', [everything(sqlSink())]);
    expect(prepared.decoded).toBe(3);
    expect(prepared.letters.map((l) => [l.id, l.kind, l.sourceKey, l.b64])).toEqual(
      [1, 3, 4].map((i) => [prepared.elementIds[i], 'undecodable', 'the-key', mixed[i]!.toString('base64')]),
    );
    for (const letter of prepared.letters) expect(letter.reason).toMatch(/msgpack|record|expected/);
    expect(prepared.shares[0]!.recordIds).toEqual([0, 2, 5].map((i) => prepared.elementIds[i]));
  });

  it('refuses for good the share of a sink whose encoder breaks, with every record it was given; the others get theirs', () => {
    const prepared = prepareBatch(elements.slice(0, 10), 'msgpack', 'k', [everything(new BreakingSink(4)), everything(sqlSink())]);
    const [broken, sql] = prepared.shares;
    expect(broken!.content).toEqual({ kind: 'refused', reason: `cannot encode batch ${prepared.id}: record 4 is too odd` });
    expect(broken!.recordIds).toHaveLength(10);
    expect(sql!.content.kind).toBe('encoded');
  });

  it('gives no share to a sink that filters out every record', () => {
    const prepared = prepareBatch(elements, 'msgpack', 'k', [filtered(sqlSink(), { skip_response_codes: [...new Set(fixtures.map((f) => f.record.response_code))] })]);
    expect(prepared.decoded).toBe(fixtures.length);
    expect(prepared.shares).toEqual([]);
  });

  it('decodes only what aggregation reads when every sink only aggregates, and the whole record otherwise', () => {
    // {"RawRequest": 5, "OrgID": "o", "APIID": "a"}: a field only a raw-record sink reads has the wrong type
    const odd = Buffer.from('83aa5261775265717565737405a54f72674944a16fa54150494944a161', 'hex');
    const aggregate = () => createSqlAggregateSink(pump({ type: 'sql_aggregate' }), { logger, config: {} as never });
    const aggregateOnly = prepareBatch([odd, elements[0]!], 'msgpack', 'k', [everything(aggregate()), everything(aggregate())]);
    expect(aggregateOnly.letters).toEqual([]);
    expect(aggregateOnly.shares.map((s) => s.recordIds.length)).toEqual([2, 2]);
    const withSql = prepareBatch([odd, elements[0]!], 'msgpack', 'k', [everything(aggregate()), everything(sqlSink())]);
    expect(withSql.letters.map((l) => l.reason)).toEqual(['RawRequest: expected a string, got number']);
    // No sink at all (the benchmark's drain+decode ceiling) decodes whole records.
    expect(prepareBatch([odd], 'msgpack', 'k', []).letters).toHaveLength(1);
  });

  it('writes under the id it is given (a replay of dead letters), with the elements\' own record ids', () => {
    const prepared = prepareBatch(elements.slice(0, 3), 'msgpack', 'k', [everything(sqlSink())], 'replay-1');
    expect(prepared.id).toBe('replay-1');
    expect((prepared.shares[0]!.content as { encoded: EncodedAnalyticsBatch }).encoded.id).toBe('replay-1');
    expect(prepared.elementIds).toEqual(recordIds(elements.slice(0, 3)));
  });
});

describe('record and batch ids', () => {
  it('stay what earlier versions computed, so ledgers and dead letters written before an upgrade still match', () => {
    // A redelivered batch is recognised by these ids: a change of format would write it twice.
    const ids = recordIds([Buffer.from('gateway record'), Buffer.from([0xc1, 0x00, 0xff]), Buffer.from('gateway record')]);
    expect(ids).toEqual(['45b349c7a65014d31936d94071fcd653', 'a1bec46de64cfd29d8e630a28a200c28', '7856b8510645b0cd582af792f0cb1c75']);
    expect(batchId(ids)).toBe('8f44431e1355ea9a25a26bc8b674db28');
  });
});

describe('preparesOffThread', () => {
  it('sends a batch to the encode threads only when every sink of it encodes compactly (COPY rows, aggregate row columns)', () => {
    const aggregate = createSqlAggregateSink(pump({ type: 'sql_aggregate' }), { logger, config: {} as never });
    expect(preparesOffThread([sqlSink()])).toBe(true);
    expect(preparesOffThread([sqlSink(), sqlSink()])).toBe(true);
    expect(preparesOffThread([sqlSink(), aggregate])).toBe(true);
    expect(preparesOffThread([aggregate])).toBe(true);
    expect(preparesOffThread([aggregate, new RecordsSink()])).toBe(false);
    expect(preparesOffThread([sqlSink(), new RecordsSink()])).toBe(false);
    expect(preparesOffThread([])).toBe(false);
  });
});
