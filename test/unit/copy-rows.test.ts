import { describe, expect, it } from 'vitest';
import { CopyRowsWriter, escapeCopyText, sliceRows } from '../../sinks/postgres/copy-rows.js';
import { ANALYTICS_COLUMNS } from '../../sinks/postgres/columns.js';
import { analyticsMsgpackFixtures } from '../harness/fixtures.js';
import type { AnalyticsRecord } from '../../src/record/analytics-record.js';

const fixtures = analyticsMsgpackFixtures();
const record = (patch: Partial<AnalyticsRecord> = {}): AnalyticsRecord => ({ ...fixtures[14]!.record, ...patch });

/** COPY text's escapes undone, independently of the writer: `\t`, `\n`, `\r` and `\\`. */
function unescape(field: string): string {
  return field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r' })[c] ?? c);
}

function fieldsOf(line: string): Record<string, string> {
  const values = line.split('\t');
  expect(values).toHaveLength(ANALYTICS_COLUMNS.length);
  return Object.fromEntries(ANALYTICS_COLUMNS.map((c, i) => [c.name, unescape(values[i]!)]));
}

describe('COPY text rows', () => {
  it('escapes backslash, tab, newline and carriage return, and nothing else', () => {
    expect(escapeCopyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(escapeCopyText('plain "quoted" , text é')).toBe('plain "quoted" , text é');
  });

  it('writes one line per record whose fields read back as the record', () => {
    const tricky = record({ path: '/a\tb\nc\\d\re', user_agent: 'ünïcødé 😀', response_code: -1, track_path: true });
    const writer = new CopyRowsWriter('t', 16);
    writer.add('id-1', tricky);
    const rows = writer.finish();
    const text = Buffer.from(rows.text).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const fields = fieldsOf(text.slice(0, -1));
    expect(fields.path).toBe(tricky.path);
    expect(fields.useragent).toBe(tricky.user_agent);
    expect(fields.responsecode).toBe('-1');
    expect(fields.trackpath).toBe('t');
    expect(rows.ids).toEqual(['id-1']);
    expect(rows.ends).toEqual([rows.text.length]);
  });

  it('grows its buffer without losing bytes, whatever the first guess (every fixture, 3-byte characters)', () => {
    const records = [...fixtures.map((f) => f.record), record({ raw_request: '€'.repeat(50_000) })];
    const writer = new CopyRowsWriter('t', 1);
    records.forEach((r, i) => writer.add(`id-${i}`, r));
    const rows = writer.finish();
    const lines = Buffer.from(rows.text).toString('utf8').split('\n').slice(0, -1);
    expect(lines).toHaveLength(records.length);
    let end = 0;
    lines.forEach((line, i) => {
      expect(fieldsOf(line).rawrequest).toBe(records[i]!.raw_request);
      end += Buffer.byteLength(line) + 1;
      expect(rows.ends[i]).toBe(end);
    });
  });

  it('gives back a first guess far larger than its rows, so a queued batch holds no idle memory', () => {
    const writer = new CopyRowsWriter('t', 10 * 1024 * 1024);
    writer.add('id-0', record());
    const rows = writer.finish();
    expect(rows.text.buffer.byteLength).toBe(rows.text.length);
    expect(rows.ends).toEqual([rows.text.length]);
  });

  it('keeps every batch\'s text alone in its ArrayBuffer, never in Node\'s shared pool, so a thread can move it', () => {
    for (const expected of [1, 64 * 1024]) {
      const writer = new CopyRowsWriter('t', expected);
      writer.add('id-0', record());
      const { text } = writer.finish();
      expect(text.byteOffset).toBe(0);
      expect(text.buffer).not.toBe(Buffer.allocUnsafe(1).buffer);
      expect(text.buffer.byteLength).toBeLessThan(2 * text.length + 1);
    }
  });

  it('slices rows for bisection: the same bytes, ids and relative ends, also a slice of a slice', () => {
    const writer = new CopyRowsWriter('t');
    for (let i = 0; i < 5; i++) writer.add(`id-${i}`, record({ path: `/row/${i}` }));
    const rows = writer.finish();
    const lines = Buffer.from(rows.text).toString('utf8').split('\n').slice(0, -1);
    const middle = sliceRows(rows, 1, 4);
    expect(middle.ids).toEqual(['id-1', 'id-2', 'id-3']);
    expect(Buffer.from(middle.text).toString('utf8')).toBe(`${lines.slice(1, 4).join('\n')}\n`);
    expect(middle.ends.at(-1)).toBe(middle.text.length);
    const last = sliceRows(middle, 2, 3);
    expect(last.ids).toEqual(['id-3']);
    expect(fieldsOf(Buffer.from(last.text).toString('utf8').slice(0, -1)).path).toBe('/row/3');
  });
});
