import { describe, expect, it } from 'vitest';
import { to as copyTo } from 'pg-copy-streams';
import { createLogger } from '../../src/log/logger.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { timeToIsoMicros, type GoTime } from '../../src/record/go-time.js';
import { numericBinary, writeTimestamp } from '../../sinks/postgres/binary-values.js';
import { COLUMN_LIST } from '../../sinks/postgres/columns.js';
import { CopyRowsWriter, copyChunks } from '../../sinks/postgres/copy-rows.js';
import { SqlSink } from '../../sinks/postgres/sql-sink.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import { neverAborted } from '../harness/mongo.js';
import { sinkDatabase } from '../harness/sink-database.js';

/*
 * The `sql` sink writes COPY's binary format, so every value's bytes must be the ones PostgreSQL itself
 * produces: checked against its own send functions, and whole rows against what COPY … TO writes back.
 */

const database = sinkDatabase('binary');
const fixtures = analyticsMsgpackFixtures().map((f) => f.record);

/** A deterministic spread of doubles: coordinates, tiny and huge magnitudes, integers, halves. */
function sampleDoubles(): number[] {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const values = [0, -0, 1, -1, 0.5, 1e-7, -1.2345e-7, 1.5e21, 9999, 10000, 10001, 123456789.125, 1e-300, 1.7976931348623157e308, 5e-324, 0.1, 0.0001, 100000000];
  for (let i = 0; i < 300; i++) {
    values.push(Number(((random() - 0.5) * 180).toFixed(Math.floor(random() * 9))));
    values.push((random() - 0.5) * 10 ** Math.floor(random() * 40 - 20));
  }
  return values;
}

/** COPY binary rows split into tuples by their field lengths, as hex. */
function tuplesOf(bytes: Buffer): string[] {
  const tuples: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const fields = bytes.readInt16BE(at);
    at += 2;
    for (let i = 0; i < fields; i++) at += 4 + Math.max(0, bytes.readInt32BE(at));
    tuples.push(bytes.subarray(start, at).toString('hex'));
  }
  return tuples;
}

describe('COPY binary against PostgreSQL', () => {
  it('encodes every numeric as numeric_send does for the same decimal text', async () => {
    const values = [...sampleDoubles(), NaN];
    const result = await database.db.pool.query('SELECT numeric_send(v::numeric) AS b FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i', [values.map(String)]);
    // Compared as hex: a failure then prints a readable list, not every Buffer's bytes.
    const mismatches = values.flatMap((v, i) => {
      const ours = numericBinary(v).toString('hex');
      const theirs = (result.rows[i].b as Buffer).toString('hex');
      return ours === theirs ? [] : [`${v}: ${ours} against ${theirs}`];
    });
    expect(mismatches).toEqual([]);
    console.log(`${values.length} numerics equal PostgreSQL's numeric_send`);
  });

  it('encodes times as timestamptz_send does, from Go\'s zero time to far ahead, to the microsecond', async () => {
    const times: GoTime[] = [
      { sec: -62135596800, nsec: 0 }, { sec: -62135596800, nsec: 999_999_999 }, { sec: 0, nsec: 1_000 }, { sec: 946_684_800, nsec: 0 },
      { sec: 946_684_799, nsec: 999_999_000 }, { sec: 1_715_343_015, nsec: 123_456_789 }, { sec: 253_402_300_799, nsec: 999_999_999 },
      ...fixtures.flatMap((r) => [r.timestamp, r.expireAt]),
    ];
    // The text COPY's way: PostgreSQL parses the RFC 3339 form and sends what it stored.
    const result = await database.db.pool.query(
      'SELECT timestamptz_send(t::timestamptz) AS b FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i',
      [times.map(timeToIsoMicros)],
    );
    const mismatches = times.filter((t, i) => {
      const ours = Buffer.alloc(8);
      writeTimestamp(new DataView(ours.buffer, ours.byteOffset, 8), t, 0);
      return !ours.equals(result.rows[i].b as Buffer);
    });
    expect(mismatches).toEqual([]);
  });

  it('loads every fixture, and COPY … TO gives back exactly the bytes Sluice wrote', async () => {
    const pool = database.db.pool;
    const sink = database.opened(new SqlSink({
      name: 'sql', connectionString: database.db.url, tableName: 'tyk_analytics', tableSharding: false, omitIndexCreation: true, logger: createLogger({ level: 'silent' }),
    }));
    await sink.open();
    const writer = new CopyRowsWriter('tyk_analytics');
    fixtures.forEach((record, i) => writer.add(`id-${i}`, record));
    const rows = writer.finish();
    expect(await sink.writeEncoded({ id: 'fixtures', tables: [rows] }, neverAborted)).toMatchObject({ written: fixtures.length, rejected: [] });
    const client = await pool.connect();
    try {
      const back: Buffer[] = [];
      const stream = client.query(copyTo(`COPY (SELECT ${COLUMN_LIST} FROM tyk_analytics) TO STDOUT WITH (FORMAT binary)`));
      for await (const chunk of stream) back.push(chunk as Buffer);
      const theirs = Buffer.concat(back);
      const [header, , trailer] = copyChunks(rows);
      expect(theirs.subarray(0, header!.length)).toEqual(header);
      expect(theirs.subarray(-trailer!.length)).toEqual(trailer);
      // A heap does not promise to give rows back in the order they came: compared as sorted tuples.
      const ours = rows.ends.map((end, i) => Buffer.from(rows.tuples.subarray(i === 0 ? 0 : rows.ends[i - 1], end)).toString('hex'));
      expect(tuplesOf(theirs.subarray(header!.length, -trailer!.length)).sort()).toEqual(ours.sort());
    } finally {
      client.release();
    }
  });

  it('loads NaN and infinite coordinates as PostgreSQL\'s own NaN and infinities', async () => {
    const sink = database.opened(new SqlSink({
      name: 'sql', connectionString: database.db.url, tableName: 'tyk_analytics', tableSharding: false, omitIndexCreation: true, logger: createLogger({ level: 'silent' }),
    }));
    await sink.open();
    const location = (latitude: number, longitude: number): AnalyticsRecord => {
      const base = fixtures[0]!;
      return { ...base, geo: { ...base.geo, location: { ...base.geo.location, latitude, longitude } } };
    };
    const records = [location(NaN, Infinity), location(-Infinity, 1e-7)];
    const outcome = await sink.write({ id: 'special', records: records.map((record, i) => ({ id: `r${i}`, record, bytes: 1 })) }, neverAborted);
    expect(outcome).toEqual({ written: 2, alreadyApplied: false, rejected: [] });
    const stored = await database.db.pool.query('SELECT geo_location_latitude::text AS lat, geo_location_longitude::text AS lon FROM tyk_analytics ORDER BY lon');
    expect(stored.rows).toEqual([{ lat: '-Infinity', lon: '0.0000001' }, { lat: 'NaN', lon: 'Infinity' }]);
  });

  it('dead-letters a record whose value no column can hold, with the column named, and writes its batch-mates', async () => {
    const sink = database.opened(new SqlSink({
      name: 'sql', connectionString: database.db.url, tableName: 'tyk_analytics', tableSharding: false, omitIndexCreation: true, logger: createLogger({ level: 'silent' }),
    }));
    await sink.open();
    const records: AnalyticsRecord[] = [fixtures[0]!, { ...fixtures[1]!, request_time: 2 ** 70 }, fixtures[2]!];
    const outcome = await sink.write({ id: 'unrepresentable', records: records.map((record, i) => ({ id: `r${i}`, record, bytes: 1 })) }, neverAborted);
    expect(outcome).toEqual({ written: 2, alreadyApplied: false, rejected: [{ recordId: 'r1', reason: expect.stringMatching(/^tyk_analytics: column requesttime: .* is not a 64-bit integer$/) }] });
    expect((await database.db.pool.query('SELECT count(*)::int AS n FROM tyk_analytics')).rows[0].n).toBe(2);
  });
});
