import { DecodeError } from './decode-error.js';
import { ZERO_TIME, type GoTime } from '../record/go-time.js';

/*
 * Readers for one wire value each, following Go's decoding into a struct field: nil (and an absent key)
 * gives the zero value, any integer width is accepted for any integer field, and a value of the wrong
 * type is an error naming the field.
 */

/** A msgpack map, as msgpackr builds it (mapsAsObjects off): a Map, its keys of any wire type. */
export type WireMap = ReadonlyMap<unknown, unknown>;

/** What an absent or nil struct reads as: every field its zero value. */
export const EMPTY_MAP: WireMap = new Map();

function describe(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bin';
  if (v instanceof Map) return 'map';
  // msgpackr gives the never-used code 0xc1 and extension types as objects of their own classes.
  if (typeof v === 'object' && Object.getPrototypeOf(v) !== Object.prototype) return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

export function wireMap(v: unknown, field: string): WireMap | null {
  if (v === null || v === undefined) return null;
  if (!(v instanceof Map)) throw new DecodeError(`expected a map, got ${describe(v)}`, field);
  return v;
}

export function wireString(v: unknown, field: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  throw new DecodeError(`expected a string, got ${describe(v)}`, field);
}

export function wireInt(v: unknown, field: string): number {
  if (v === null || v === undefined) return 0;
  // Values beyond 2^53 arrive as bigint; counters that large lose only their lowest bits as a number.
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new DecodeError(`expected an integer, got ${describe(v)}${typeof v === 'number' ? ` ${v}` : ''}`, field);
}

export function wireFloat(v: unknown, field: string): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new DecodeError(`expected a number, got ${describe(v)}`, field);
}

export function wireBool(v: unknown, field: string): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  throw new DecodeError(`expected a bool, got ${describe(v)}`, field);
}

/**
 * The instants every store and Tyk's Dashboard can hold: years 1 to 9999, from Go's zero time to the last
 * second of 9999. A Go time.Time reaches far beyond them, but such a time is a corrupt record, not a date:
 * PostgreSQL's text times, Tyk's `YYYYMMDD` shard names and the RFC 3339 the Dashboard writes all have
 * four-digit years, so storing it would fail a whole batch in a sink instead of this one record here.
 */
const EARLIEST_STORABLE_SECONDS = -62_135_596_800;
const LATEST_STORABLE_SECONDS = 253_402_300_799;

export function storableTime(t: GoTime, field: string): GoTime {
  if (t.sec >= EARLIEST_STORABLE_SECONDS && t.sec <= LATEST_STORABLE_SECONDS) return t;
  throw new DecodeError(`a time ${t.sec} seconds from 1970 is outside the years 1 to 9999 that the stores hold`, field);
}

/** `time.Time` as msgpack.v2 writes it: `[unix seconds, nanoseconds]`. */
export function wireTime(v: unknown, field: string): GoTime {
  if (v === null || v === undefined) return ZERO_TIME;
  if (!Array.isArray(v) || v.length !== 2) {
    throw new DecodeError(`expected a time as [seconds, nanoseconds], got ${describe(v)}`, field);
  }
  return unixTime(wireInt(v[0], `${field}.seconds`), wireInt(v[1], `${field}.nanoseconds`), field);
}

/** Go's time.Unix(sec, nsec), which normalises out-of-range nanoseconds into the seconds; checked storable. */
export function unixTime(sec: number, nsec: number, field: string): GoTime {
  const carry = Math.floor(nsec / 1e9);
  return storableTime({ sec: sec + carry, nsec: nsec - carry * 1e9 }, field);
}

export function wireStringList(v: unknown, field: string): string[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new DecodeError(`expected an array, got ${describe(v)}`, field);
  return v.map((item, i) => wireString(item, `${field}[${i}]`));
}

/**
 * A Go `map[string]T` as a plain object, each value read by `read`. Only a string can be such a map's key;
 * `__proto__` is a key like any other on the wire, so it is defined, not assigned (which would replace the
 * object's prototype).
 */
export function wireStringKeyedMap<T>(v: unknown, field: string, read: (item: unknown, field: string) => T): Record<string, T> | null {
  const m = wireMap(v, field);
  if (m === null) return null;
  const out: Record<string, T> = {};
  for (const [k, item] of m) {
    if (typeof k !== 'string') throw new DecodeError(`expected string keys, got ${describe(k)}${typeof k === 'number' ? ` ${k}` : ''}`, field);
    const value = read(item, `${field}.${k}`);
    if (k === '__proto__') Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    else out[k] = value;
  }
  return out;
}

export function wireStringMap(v: unknown, field: string): Record<string, string> | null {
  return wireStringKeyedMap(v, field, wireString);
}
