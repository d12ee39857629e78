import type { AnalyticsRecord } from '../../src/record/analytics-record.js';
import { ANALYTICS_COLUMNS } from './columns.js';

/*
 * COPY's text format written straight into one Buffer per table and batch, one row at a time. Joining the
 * rows of a batch into one string copied them twice more (V8 flattens the rope, then the join is encoded);
 * one UTF-8 encode per field was a native call per field. A row is one string of ~1–2 KB, flattened and
 * encoded once; a Buffer lives outside the heap, so a batch waiting for its turn costs the GC nothing.
 */

const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPED = /[\\\t\n\r]/g;
const NEWLINE = 0x0a;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Backslash, tab, newline and carriage return are escaped; nothing is ever NULL. */
export function escapeCopyText(value: string): string {
  // Most values need no escaping; testing first avoids a replace per field.
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, (ch) => COPY_ESCAPES[ch]!) : value;
}

/** One table's rows of a batch in COPY text, with where each row ends so a refused row can be isolated. */
export interface CopyRows {
  readonly table: string;
  readonly ids: readonly string[];
  /** `ends[i]` is the offset just past row i's newline in `text`. */
  readonly ends: readonly number[];
  /**
   * A Buffer where it was written, alone in its ArrayBuffer (never a slice of Node's shared pool), so an
   * encode thread can move it to the main thread instead of copying it; a plain Uint8Array once moved.
   */
  readonly text: Uint8Array;
}

/** Rows `from` (inclusive) to `to` (exclusive), sharing the parent's bytes. */
export function sliceRows(rows: CopyRows, from: number, to: number): CopyRows {
  const start = from === 0 ? 0 : rows.ends[from - 1]!;
  const ends = rows.ends.slice(from, to).map((end) => end - start);
  return { table: rows.table, ids: rows.ids.slice(from, to), ends, text: rows.text.subarray(start, rows.ends[to - 1]!) };
}

export class CopyRowsWriter {
  private text: Buffer;
  private length = 0;
  private readonly ids: string[] = [];
  private readonly ends: number[] = [];
  private readonly fields: Array<string | number> = new Array<string | number>(ANALYTICS_COLUMNS.length);

  constructor(readonly table: string, expectedBytes = 64 * 1024) {
    this.text = Buffer.allocUnsafeSlow(Math.max(expectedBytes, 1));
  }

  /** Makes room for `bytes` more, doubling: a batch's rows come in one go, so growth settles fast. */
  private reserve(bytes: number): void {
    if (this.length + bytes <= this.text.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.text.length * 2, this.length + bytes));
    this.text.copy(grown, 0, 0, this.length);
    this.text = grown;
  }

  private string(s: string): void {
    // A UTF-16 unit never takes more than 3 bytes of UTF-8.
    this.reserve(s.length * 3);
    this.length += this.text.write(s, this.length);
  }

  /**
   * A row as one string, written with one UTF-8 encode: a call per field cost more than the fields. The
   * fields are joined from one reused array, which allocates the row once; concatenating them built a
   * chain of partial strings per row that the scavenger then had to sweep.
   */
  add(id: string, record: AnalyticsRecord): void {
    const fields = this.fields;
    for (let i = 0; i < ANALYTICS_COLUMNS.length; i++) {
      const value = ANALYTICS_COLUMNS[i]!.value(record);
      fields[i] = typeof value === 'string' ? escapeCopyText(value) : typeof value === 'number' ? value : value ? 't' : 'f';
    }
    this.string(fields.join('\t'));
    this.reserve(1);
    this.text[this.length++] = NEWLINE;
    this.ids.push(id);
    this.ends.push(this.length);
  }

  /** The rows written; a buffer less than half used is copied, so a queued batch holds no idle memory. */
  finish(): CopyRows {
    const used = this.text.subarray(0, this.length);
    let text = used;
    if (this.length < this.text.length / 2) {
      text = Buffer.allocUnsafeSlow(this.length);
      used.copy(text);
    }
    return { table: this.table, ids: this.ids, ends: this.ends, text };
  }
}
