import { DecodeError } from './decode-error.js';

/*
 * Walking msgpack without decoding it: where a value ends, and which of a struct's fields a map holds,
 * matched by their key bytes. msgpackr decodes whole values and has no way to skip one, so a record's
 * unused fields (raw dumps, user agent, GraphQL details) would cost a Map, key strings and values each.
 * Values that are wanted are still decoded by msgpackr (see aggregated-msgpack.ts); this only finds them.
 */

/** Bytes past the type byte that give a value's length (str, bin, ext) or count (array, map). */
function lengthAt(bytes: Uint8Array, at: number, size: 1 | 2 | 4): number {
  if (at + size > bytes.length) throw truncated();
  if (size === 1) return bytes[at]!;
  if (size === 2) return (bytes[at]! << 8) | bytes[at + 1]!;
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

function truncated(): DecodeError {
  return new DecodeError('not valid msgpack: the value runs past the end of the element');
}

/**
 * What the last header read found, in one reused object: these run for every key and value of every
 * record, where an object per call would be garbage of the very kind skimming exists to avoid.
 */
const found = { inner: 0, start: 0, end: 0 };

/**
 * Skips one value's header at `at` with its payload (string bytes, numbers, extensions) and returns the
 * position past them; `found.inner` is how many values follow inside it (an array's items, a map's keys
 * and values).
 */
function skipHeader(bytes: Uint8Array, at: number): number {
  const type = bytes[at];
  if (type === undefined) throw truncated();
  found.inner = 0;
  if (type < 0x80 || type >= 0xe0) return at + 1;
  if (type < 0x90) {
    found.inner = 2 * (type & 0x0f);
    return at + 1;
  }
  if (type < 0xa0) {
    found.inner = type & 0x0f;
    return at + 1;
  }
  if (type < 0xc0) return at + 1 + (type & 0x1f);
  switch (type) {
    case 0xc0: case 0xc2: case 0xc3: return at + 1;
    case 0xc4: case 0xd9: return at + 2 + lengthAt(bytes, at + 1, 1);
    case 0xc5: case 0xda: return at + 3 + lengthAt(bytes, at + 1, 2);
    case 0xc6: case 0xdb: return at + 5 + lengthAt(bytes, at + 1, 4);
    case 0xc7: return at + 3 + lengthAt(bytes, at + 1, 1);
    case 0xc8: return at + 4 + lengthAt(bytes, at + 1, 2);
    case 0xc9: return at + 6 + lengthAt(bytes, at + 1, 4);
    case 0xca: return at + 5;
    case 0xcb: return at + 9;
    case 0xcc: case 0xd0: return at + 2;
    case 0xcd: case 0xd1: return at + 3;
    case 0xce: case 0xd2: return at + 5;
    case 0xcf: case 0xd3: return at + 9;
    case 0xd4: return at + 3;
    case 0xd5: return at + 4;
    case 0xd6: return at + 6;
    case 0xd7: return at + 10;
    case 0xd8: return at + 18;
    case 0xdc:
      found.inner = lengthAt(bytes, at + 1, 2);
      return at + 3;
    case 0xdd:
      found.inner = lengthAt(bytes, at + 1, 4);
      return at + 5;
    case 0xde:
      found.inner = 2 * lengthAt(bytes, at + 1, 2);
      return at + 3;
    case 0xdf:
      found.inner = 2 * lengthAt(bytes, at + 1, 4);
      return at + 5;
    default: throw new DecodeError('not valid msgpack: the never-used type 0xc1');
  }
}

/**
 * The position just past the value at `at`, nested values included. Every value takes at least a byte,
 * so a count larger than the bytes left ends in `truncated`, never in a long loop.
 */
export function valueEnd(bytes: Uint8Array, at: number): number {
  let position = at;
  let pending = 1;
  while (pending > 0) {
    position = skipHeader(bytes, position);
    if (position > bytes.length) throw truncated();
    pending += found.inner - 1;
  }
  return position;
}

const NIL = -1;
const NOT_A_MAP = -2;

/** A map's entry count, its first key at found.start; or NIL, or NOT_A_MAP. */
function mapEntriesAt(bytes: Uint8Array, at: number): number {
  const type = bytes[at];
  if (type === undefined) throw truncated();
  if (type === 0xc0) return NIL;
  let entries: number;
  if (type >= 0x80 && type < 0x90) {
    found.start = at + 1;
    entries = type & 0x0f;
  } else if (type === 0xde || type === 0xdf) {
    const size = type === 0xde ? 2 : 4;
    found.start = at + 1 + size;
    entries = lengthAt(bytes, at + 1, size);
  } else {
    return NOT_A_MAP;
  }
  return entries;
}

/** Whether the value at `at` is a string; if so, its bytes lie at found.start to found.end. */
function isStringAt(bytes: Uint8Array, at: number): boolean {
  const type = bytes[at]!;
  if (type >= 0xa0 && type < 0xc0) {
    found.start = at + 1;
    found.end = found.start + (type & 0x1f);
    return true;
  }
  if (type < 0xd9 || type > 0xdb) return false;
  const size = type === 0xd9 ? 1 : type === 0xda ? 2 : 4;
  found.start = at + 1 + size;
  found.end = found.start + lengthAt(bytes, at + 1, size);
  return true;
}

/** A Go struct's field names, matched against map keys by their UTF-8 bytes. */
export class FieldNames<N extends string> {
  /** Each name's index, for reading what locateFields found. */
  readonly index: Readonly<Record<N, number>>;
  private readonly encoded: readonly Uint8Array[];
  /** Name indices by their length in bytes: a key is compared with the few names as long as it is. */
  private readonly byLength: number[][] = [];

  constructor(readonly names: readonly N[]) {
    this.index = Object.fromEntries(names.map((name, i) => [name, i])) as Record<N, number>;
    this.encoded = names.map((name) => Buffer.from(name, 'utf8'));
    this.encoded.forEach((name, i) => (this.byLength[name.length] ??= []).push(i));
  }

  /** Index of the name spelled by bytes[start, end), or -1. */
  indexOf(bytes: Uint8Array, start: number, end: number): number {
    const candidates = this.byLength[end - start];
    if (!candidates) return -1;
    for (const i of candidates) {
      const name = this.encoded[i]!;
      let j = 0;
      while (j < name.length && name[j] === bytes[start + j]) j++;
      if (j === name.length) return i;
    }
    return -1;
  }
}

/**
 * Where each of `fields` has its value in the map at `at`: `into[i]` is the position of names[i]'s value,
 * or -1 when the map has no such key (nor has a nil, which reads as a struct of zero values). A key given
 * twice counts with its last value, as a decoder setting the field twice keeps the last; keys that are not
 * strings or not among the names are skipped, as Go skips what its struct has no field for. Every entry is
 * walked (valueEnd), so a map returns the position past it, checked to lie inside `bytes`.
 */
export function locateFields(bytes: Uint8Array, at: number, fields: FieldNames<string>, into: Int32Array): number | 'nil' | 'not a map' {
  into.fill(-1);
  const entries = mapEntriesAt(bytes, at);
  if (entries === NIL) return 'nil';
  if (entries === NOT_A_MAP) return 'not a map';
  let position = found.start;
  for (let i = 0; i < entries; i++) {
    let field = -1;
    let valueStart: number;
    if (isStringAt(bytes, position)) {
      field = fields.indexOf(bytes, found.start, found.end);
      valueStart = found.end;
      if (valueStart > bytes.length) throw truncated();
    } else {
      valueStart = valueEnd(bytes, position);
    }
    if (field >= 0) into[field] = valueStart;
    position = valueEnd(bytes, valueStart);
  }
  return position;
}
