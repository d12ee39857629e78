/**
 * A Go `time.Time` as the gateway puts it on the wire: an instant with nanosecond precision and no zone.
 * JavaScript's Date keeps milliseconds only, so the instant travels as whole seconds plus nanoseconds;
 * `sec` follows Go's `Unix()` (floored), so `nsec` is always in [0, 1e9).
 */
export interface GoTime {
  readonly sec: number;
  readonly nsec: number;
}

/** Go's zero `time.Time` (0001-01-01T00:00:00Z), what an absent or nil time decodes to. */
export const ZERO_TIME: GoTime = Object.freeze({ sec: -62135596800, nsec: 0 });

export function isZeroTime(t: GoTime): boolean {
  return t.sec === ZERO_TIME.sec && t.nsec === 0;
}

export function timeFromMillis(ms: number): GoTime {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1e6) };
}

export function timeToMillis(t: GoTime): number {
  return t.sec * 1000 + Math.floor(t.nsec / 1e6);
}

export function timeToDate(t: GoTime): Date {
  return new Date(timeToMillis(t));
}

/** Formatted whole seconds: a batch's records share a few seconds, and formatting a Date is the costly part. */
const isoSeconds = new Map<number, string>();
const ISO_SECONDS_KEPT = 4096;

/** RFC 3339 in UTC with microseconds, the precision of PostgreSQL's timestamptz. */
export function timeToIsoMicros(t: GoTime): string {
  let whole = isoSeconds.get(t.sec);
  if (whole === undefined) {
    // A record's timestamp and expireAt alternate, so one remembered second would miss every time.
    if (isoSeconds.size >= ISO_SECONDS_KEPT) isoSeconds.clear();
    whole = new Date(t.sec * 1000).toISOString().slice(0, 19);
    isoSeconds.set(t.sec, whole);
  }
  const micros = String(Math.floor(t.nsec / 1000)).padStart(6, '0');
  return `${whole}.${micros}Z`;
}

/** The UTC calendar day of an instant as `YYYYMMDD`, the suffix of Tyk's daily shard tables. */
export function utcDayStamp(t: GoTime): string {
  return new Date(t.sec * 1000).toISOString().slice(0, 10).replaceAll('-', '');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses RFC 3339 with up to nanosecond precision and any offset, as Go's encoding/json writes times.
 * Date.parse would round to milliseconds, which loses what the gateway recorded.
 */
export function parseRfc3339(text: string): GoTime {
  const m = RFC3339.exec(text);
  if (!m) throw new RangeError(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac = '', zone] = m;
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 onto the 1900s.
  const day = new Date(0);
  day.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  day.setUTCHours(Number(h), Number(mi), Number(s), 0);
  let sec = day.getTime() / 1000;
  if (zone !== 'Z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    sec -= sign * (Number(zone!.slice(1, 3)) * 3600 + Number(zone!.slice(4, 6)) * 60);
  }
  return { sec, nsec: Number(frac.padEnd(9, '0')) };
}
