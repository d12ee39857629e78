import type { GoTime } from '../../src/record/go-time.js';
import { SluiceError } from '../../src/errors.js';

/*
 * Values in PostgreSQL's binary wire format, as its *_send functions write them and *_recv read them, so
 * that COPY spares the server parsing every number and time from text. The encodings are the ones
 * PostgreSQL's own `numeric_send` and `timestamptz_send` produce, which the integration tests compare byte
 * for byte.
 */

/** A value the column's binary format cannot hold; its row is refused, not the batch. */
export class UnrepresentableValueError extends SluiceError {
  constructor(readonly value: unknown, why: string) {
    super('unrepresentable_value', `${String(value)} ${why}`, { value });
  }
}

const TWO_TO_32 = 4294967296;
const INT64_MAX = 2n ** 63n - 1n;

/** An integer as a big-endian int64, exact for every integer a double holds below 2^63 in magnitude. */
export function writeInt64(target: DataView, value: number, offset: number): void {
  if (!Number.isInteger(value) || value >= 2 ** 63 || value < -(2 ** 63)) {
    throw new UnrepresentableValueError(value, 'is not a 64-bit integer');
  }
  // Division by a power of two and ToUint32 are both exact, so the halves are too, negatives included.
  target.setInt32(offset, Math.floor(value / TWO_TO_32));
  target.setUint32(offset + 4, value >>> 0);
}

/** 2000-01-01T00:00:00Z, PostgreSQL's epoch for timestamps, in Unix seconds. */
const POSTGRES_EPOCH_SECONDS = 946_684_800;

/**
 * A timestamptz: microseconds since 2000-01-01 UTC as an int64. Times far from 2000 (Go's zero time among
 * them) exceed a double's exact integers once in microseconds, so those take the BigInt path.
 */
export function writeTimestamp(target: DataView, time: GoTime, offset: number): void {
  const seconds = time.sec - POSTGRES_EPOCH_SECONDS;
  const micros = Math.floor(time.nsec / 1000);
  const value = seconds * 1e6 + micros;
  if (Number.isSafeInteger(value)) {
    writeInt64(target, value, offset);
    return;
  }
  if (!Number.isInteger(time.sec)) throw new UnrepresentableValueError(time.sec, 'is not a whole number of seconds');
  const exact = BigInt(time.sec - POSTGRES_EPOCH_SECONDS) * 1_000_000n + BigInt(micros);
  if (exact > INT64_MAX || exact < -INT64_MAX - 1n) throw new UnrepresentableValueError(time.sec, 'seconds is beyond any timestamp');
  target.setBigInt64(offset, exact);
}

const NUMERIC_POSITIVE = 0x0000;
const NUMERIC_NEGATIVE = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_INFINITY = 0xd000;
const NUMERIC_NEGATIVE_INFINITY = 0xf000;
/** numeric's digits are base 10,000: four decimal digits each. */
const DECIMAL_DIGITS_PER_DIGIT = 4;

function numericFields(digits: readonly number[], weight: number, sign: number, displayScale: number): Buffer {
  const out = Buffer.allocUnsafe(8 + 2 * digits.length);
  out.writeUInt16BE(digits.length, 0);
  out.writeInt16BE(weight, 2);
  out.writeUInt16BE(sign, 4);
  out.writeUInt16BE(displayScale, 6);
  digits.forEach((digit, i) => out.writeUInt16BE(digit, 8 + 2 * i));
  return out;
}

/**
 * A double as the numeric PostgreSQL makes of its shortest decimal form (what `String(value)` writes, and
 * what COPY's text format would have sent): the same digits and the same display scale, "1e-7" included.
 */
export function numericBinary(value: number): Buffer {
  if (Number.isNaN(value)) return numericFields([], 0, NUMERIC_NAN, 0);
  if (value === Infinity) return numericFields([], 0, NUMERIC_INFINITY, 0);
  if (value === -Infinity) return numericFields([], 0, NUMERIC_NEGATIVE_INFINITY, 0);
  const [mantissa = '', exponentText = '0'] = String(Math.abs(value)).split('e');
  const [whole = '', fraction = ''] = mantissa.split('.');
  const exponent = Number(exponentText);
  // Where the decimal point falls in the digit string, counted from its first digit (may be outside it).
  const point = whole.length + exponent;
  const displayScale = Math.max(0, fraction.length - exponent);
  const leftPad = (((DECIMAL_DIGITS_PER_DIGIT - (point % DECIMAL_DIGITS_PER_DIGIT)) % DECIMAL_DIGITS_PER_DIGIT) + DECIMAL_DIGITS_PER_DIGIT) % DECIMAL_DIGITS_PER_DIGIT;
  let decimal = '0'.repeat(leftPad) + whole + fraction;
  decimal += '0'.repeat((DECIMAL_DIGITS_PER_DIGIT - (decimal.length % DECIMAL_DIGITS_PER_DIGIT)) % DECIMAL_DIGITS_PER_DIGIT);
  const digits: number[] = [];
  for (let i = 0; i < decimal.length; i += DECIMAL_DIGITS_PER_DIGIT) digits.push(Number(decimal.slice(i, i + DECIMAL_DIGITS_PER_DIGIT)));
  let weight = (point + leftPad) / DECIMAL_DIGITS_PER_DIGIT - 1;
  // PostgreSQL keeps no leading or trailing zero digits, and writes zero as positive with no digits.
  while (digits[0] === 0) {
    digits.shift();
    weight -= 1;
  }
  while (digits.at(-1) === 0) digits.pop();
  if (digits.length === 0) return numericFields([], 0, NUMERIC_POSITIVE, displayScale);
  return numericFields(digits, weight, value < 0 ? NUMERIC_NEGATIVE : NUMERIC_POSITIVE, displayScale);
}
