import { describe, expect, it } from 'vitest';
import { CopyRowsWriter, copyChunks, sliceRows, type CopyRows } from '../../sinks/postgres/copy-rows.js';
import { ANALYTICS_COLUMNS } from '../../sinks/postgres/columns.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';

const fixtures = analyticsMsgpackFixtures();
const record = (patch: Partial<AnalyticsRecord> = {}): AnalyticsRecord => ({ ...fixtures[14]!.record, ...patch });

/** One row read back from COPY binary, independently of the writer: each field's raw bytes by column. */
function readRows(bytes: Uint8Array): Array<Record<string, Buffer>> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rows: Array<Record<string, Buffer>> = [];
  let at = 0;
  while (at < buf.length) {
    expect(buf.readInt16BE(at)).toBe(ANALYTICS_COLUMNS.length);
    at += 2;
    const row: Record<string, Buffer> = {};
    for (const column of ANALYTICS_COLUMNS) {
      const length = buf.readInt32BE(at);
      expect(length).toBeGreaterThanOrEqual(0); // nothing is ever NULL
      row[column.name] = buf.subarray(at + 4, at + 4 + length);
      at += 4 + length;
    }
    rows.push(row);
  }
  expect(at).toBe(buf.length);
  return rows;
}

const text = (field: Buffer | undefined) => field!.toString('utf8');
const int64 = (field: Buffer | undefined) => field!.readBigInt64BE(0);

function written(records: AnalyticsRecord[], expectedBytes = 64 * 1024): CopyRows {
  const writer = new CopyRowsWriter('t', expectedBytes);
  records.forEach((r, i) => writer.add(`id-${i}`, r));
  return writer.finish();
}

describe('COPY binary rows', () => {
  it('writes one tuple per record whose fields read back as the record: text as UTF-8, unescaped', () => {
    const tricky = record({ path: '/a\tb\nc\\d\re', user_agent: 'ünïcødé 😀', response_code: -1, track_path: true, raw_response: '' });
    const rows = written([tricky], 16);
    const [fields] = readRows(rows.tuples);
    expect(text(fields!.path)).toBe(tricky.path);
    expect(text(fields!.useragent)).toBe(tricky.user_agent);
    expect(text(fields!.rawresponse)).toBe('');
    expect(int64(fields!.responsecode)).toBe(-1n);
    expect(int64(fields!.contentlength)).toBe(BigInt(tricky.content_length));
    expect([...fields!.trackpath!]).toEqual([1]);
    expect(JSON.parse(text(fields!.tags))).toEqual(tricky.tags ?? []);
    expect(rows.ids).toEqual(['id-0']);
    expect(rows.ends).toEqual([rows.tuples.length]);
    expect(rows.refused).toEqual([]);
  });

  it('writes times as microseconds since 2000-01-01 UTC, Go\'s zero time included', () => {
    const at = { sec: Date.UTC(2024, 4, 10, 12, 30, 15) / 1000, nsec: 123_456_789 };
    const zero = { sec: -62135596800, nsec: 0 };
    const [fields] = readRows(written([record({ timestamp: at, expireAt: zero })]).tuples);
    expect(int64(fields!.timestamp)).toBe(BigInt(at.sec - 946_684_800) * 1_000_000n + 123_456n);
    expect(int64(fields!.expireAt)).toBe(BigInt(zero.sec - 946_684_800) * 1_000_000n);
  });

  it('grows its buffer without losing bytes, whatever the first guess (every fixture, 3-byte characters)', () => {
    const records = [...fixtures.map((f) => f.record), record({ raw_request: '€'.repeat(50_000) })];
    const rows = written(records, 1);
    const read = readRows(rows.tuples);
    expect(read).toHaveLength(records.length);
    read.forEach((fields, i) => {
      expect(text(fields.rawrequest)).toBe(records[i]!.raw_request);
      expect(text(fields.apiid)).toBe(records[i]!.api_id);
    });
    expect(rows.ends.at(-1)).toBe(rows.tuples.length);
  });

  it('refuses, with the column named, a record whose value its column cannot hold, and keeps its batch-mates', () => {
    const records = [record(), record({ content_length: 2 ** 64 }), record({ timestamp: { sec: 1e16, nsec: 0 } }), record({ request_time: 1.5 })];
    const rows = written(records);
    expect(rows.ids).toEqual(['id-0']);
    expect(readRows(rows.tuples)).toHaveLength(1);
    expect(rows.refused.map((r) => r.recordId)).toEqual(['id-1', 'id-2', 'id-3']);
    expect(rows.refused[0]!.reason).toMatch(/^t: column contentlength: .*not a 64-bit integer/);
    expect(rows.refused[1]!.reason).toMatch(/column timestamp: .*beyond any timestamp/);
    expect(rows.refused[2]!.reason).toMatch(/column requesttime: 1.5 is not a 64-bit integer/);
  });

  it('gives back a first guess far larger than its rows, so a queued batch holds no idle memory', () => {
    const rows = written([record()], 10 * 1024 * 1024);
    expect(rows.tuples.buffer.byteLength).toBe(rows.tuples.length);
    expect(rows.ends).toEqual([rows.tuples.length]);
  });

  it('keeps every batch\'s rows alone in their ArrayBuffer, never in Node\'s shared pool, so a thread can move them', () => {
    for (const expected of [1, 64 * 1024]) {
      const { tuples } = written([record()], expected);
      expect(tuples.byteOffset).toBe(0);
      expect(tuples.buffer).not.toBe(Buffer.allocUnsafe(1).buffer);
      expect(tuples.buffer.byteLength).toBeLessThan(2 * tuples.length + 1);
    }
  });

  it('slices rows for bisection: the same bytes, ids and relative ends, also a slice of a slice', () => {
    const rows = written(Array.from({ length: 5 }, (_, i) => record({ path: `/row/${i}` })));
    const middle = sliceRows(rows, 1, 4);
    expect(middle.ids).toEqual(['id-1', 'id-2', 'id-3']);
    expect(Buffer.from(middle.tuples)).toEqual(Buffer.from(rows.tuples.subarray(rows.ends[0], rows.ends[3])));
    expect(middle.ends.at(-1)).toBe(middle.tuples.length);
    const last = sliceRows(middle, 2, 3);
    expect(last.ids).toEqual(['id-3']);
    expect(readRows(last.tuples).map((fields) => text(fields.path))).toEqual(['/row/3']);
  });

  it('sends each COPY the format\'s signature, no flags and no extension, then the rows, then the end marker', () => {
    const rows = written([record()]);
    const [header, body, trailer] = copyChunks(rows);
    expect(header!.subarray(0, 11)).toEqual(Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'));
    expect(header!.readInt32BE(11)).toBe(0);
    expect(header!.readInt32BE(15)).toBe(0);
    expect(header).toHaveLength(19);
    expect(Buffer.from(body!)).toEqual(Buffer.from(rows.tuples));
    expect(trailer!.readInt16BE(0)).toBe(-1);
  });
});
