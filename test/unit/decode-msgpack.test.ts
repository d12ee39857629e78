import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/assets.js';
import { decodeAnalyticsMsgpack, decodeUptimeMsgpack } from '../../src/decode/msgpack.js';
import { DecodeError } from '../../src/decode/decode-error.js';
import { ZERO_TIME } from '../../src/record/go-time.js';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';

describe('msgpack decoding matches the Go pump on every golden fixture', () => {
  const analytics = analyticsMsgpackFixtures();
  const uptime = uptimeMsgpackFixtures();

  it('has the fixture counts the gateway README promises', () => {
    expect(analytics).toHaveLength(300);
    expect(uptime).toHaveLength(100);
  });

  it.each(analytics.map((f) => [f.index, f] as const))('analytics line %i', (_i, f) => {
    expect(decodeAnalyticsMsgpack(f.bytes)).toEqual(f.record);
  });

  it.each(uptime.map((f) => [f.index, f] as const))('uptime line %i', (_i, f) => {
    expect(decodeUptimeMsgpack(f.bytes)).toEqual(f.record);
  });

  it('keeps nil and empty apart (line 1 nil tags, line 2 empty tags)', () => {
    expect(decodeAnalyticsMsgpack(analytics[1]!.bytes).tags).toBeNull();
    expect(decodeAnalyticsMsgpack(analytics[2]!.bytes).tags).toEqual([]);
  });

  it('reads invalid UTF-8 as U+FFFD, as Go prints it (line 4)', () => {
    expect(decodeAnalyticsMsgpack(analytics[4]!.bytes).raw_path).toContain('\uFFFD\uFFFD');
  });

  it('reads times before 1970 and the zero time (lines 1, 19)', () => {
    expect(decodeAnalyticsMsgpack(analytics[19]!.bytes).timestamp).toEqual({ sec: -1, nsec: 500_000_000 });
    expect(decodeAnalyticsMsgpack(analytics[1]!.bytes).timestamp).toEqual({ sec: -62135596800, nsec: 0 });
  });
});

describe('malformed elements give a DecodeError, never another throw', () => {
  const good = analyticsMsgpackFixtures()[14]!.bytes;

  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty bytes', Buffer.alloc(0), /msgpack/],
    ['truncated record', good.subarray(0, good.length - 7), /msgpack/],
    ['garbage', Buffer.from('not a msgpack record at all \x00\xff'), /./],
    ['a bare integer', Buffer.from([0x2a]), /expected a map/],
    ['nil', Buffer.from([0xc0]), /nil/],
    // 0xc1 is never used by msgpack (msgpackr would hand it over as an object of its own); the walk before
    // msgpackr refuses it wherever it stands
    ['the never-used code 0xc1', Buffer.from([0xc1]), /never-used type 0xc1/],
    // {"Geo": 0xc1}
    ['0xc1 where a map belongs', Buffer.from('81a347656fc1', 'hex'), /never-used type 0xc1/],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0x01])]), /one msgpack value/],
    // {"ResponseCode": "200"}: a string where Go has an int
    ['type-confused field', Buffer.from('81ac526573706f6e7365436f6465a3323030', 'hex'), /ResponseCode: expected an integer/],
    // {"TimeStamp": [1]}: a time with one element
    ['bad time', Buffer.from('81a954696d655374616d709101', 'hex'), /TimeStamp: expected a time/],
    // {"Tags": ["a", 1]}
    ['bad tag', Buffer.from('81a45461677392a16101', 'hex'), /Tags\[1\]: expected a string/],
    // {"TimeStamp": [9000000000000, 0]}: year 287,000, beyond any date a store can hold
    ['a time no store can hold', Buffer.from('81a954696d655374616d7092d30000082f79cd900000', 'hex'), /TimeStamp: a time 9000000000000 seconds from 1970 is outside the years 1 to 9999/],
    // {"TimeStamp": [253402300800, 0]}: 10000-01-01, a year PostgreSQL's text times and shard names cannot spell
    ['the first second of year 10000', Buffer.from('81a954696d655374616d7092d30000003afff4418000', 'hex'), /TimeStamp: a time 253402300800 seconds/],
    // {"TimeStamp": [-62135596801, 0]}: the last second of year 0, just before Go's zero time
    ['a second before Go\'s zero time', Buffer.from('81a954696d655374616d7092d3fffffff1886e08ff00', 'hex'), /TimeStamp: a time -62135596801 seconds/],
    // {"Geo": {"City": {"Names": {1: "x"}}}}: Go's map[string]string takes string keys only
    ['a number as a map[string] key', Buffer.from('81a347656f81a44369747981a54e616d65738101a178', 'hex'), /Geo\.City\.Names: expected string keys, got number 1/],
  ];

  it.each(cases)('%s', (_name, bytes, message) => {
    let caught: unknown;
    try {
      decodeAnalyticsMsgpack(bytes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as Error).message).toMatch(message);
  });

  it('keeps the times at either end of what the stores hold: the last second of 9999 and Go\'s zero time', () => {
    // {"ExpireAt": [253402300799, 0]} and {"ExpireAt": [-62135596800, 0]}
    expect(decodeAnalyticsMsgpack(Buffer.from('81a8457870697265417492d30000003afff4417f00', 'hex')).expireAt).toEqual({ sec: 253402300799, nsec: 0 });
    expect(decodeAnalyticsMsgpack(Buffer.from('81a8457870697265417492d3fffffff1886e090000', 'hex')).expireAt).toEqual(ZERO_TIME);
  });

  it('keeps a map key named __proto__ as an entry, without touching the prototype', () => {
    // {"Geo": {"City": {"Names": {"__proto__": "x", "en": "London"}}}}
    const { names } = decodeAnalyticsMsgpack(Buffer.from('81a347656f81a44369747981a54e616d657382a95f5f70726f746f5f5fa178a2656ea64c6f6e646f6e', 'hex')).geo.city;
    expect(Object.getPrototypeOf(names)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(names, '__proto__')?.value).toBe('x');
    expect(JSON.stringify(names)).toBe('{"__proto__":"x","en":"London"}');
  });

  it('uptime decoding rejects the same way', () => {
    expect(() => decodeUptimeMsgpack(Buffer.from([0x93, 1, 2, 3]))).toThrow(DecodeError);
  });
});

describe('an element declaring more items than it has bytes', () => {
  /** Headers that declare far more than the element holds, behind a valid-looking start. */
  const poison: Array<[string, Buffer]> = [
    ['array32 of 30 million items', Buffer.from('c1710edd01d2568e3f197f4ae4cc43bff8ed90', 'hex')],
    ['map32 of 238 million entries', Buffer.from('81a3417069df0e315554', 'hex')],
    ['1,000 nested array16s of 65,535 items', Buffer.concat([Buffer.from([0x81, 0xa1, 0x41]), Buffer.alloc(3000, Buffer.from([0xdc, 0xff, 0xff]))])],
    ['str32, bin32 and ext32 of 4 GB', Buffer.from('83a141dbffffff00a142c6ffffff00a143c9ffffff0001', 'hex')],
  ];

  it.each(poison)('%s is refused without allocating what it declares', (_name, bytes) => {
    expect(() => decodeAnalyticsMsgpack(bytes)).toThrow(DecodeError);
    expect(() => decodeUptimeMsgpack(bytes)).toThrow(DecodeError);
  });

  it('is refused in a thread with 32 MB of heap (msgpackr alone would allocate hundreds of MB first)', async () => {
    const decoder = pathToFileURL(join(packageRoot(), 'dist', 'src', 'decode', 'msgpack.js')).href;
    const worker = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.decoder).then(({ decodeAnalyticsMsgpack }) => {
        const refused = workerData.elements.filter((hex) => {
          try { decodeAnalyticsMsgpack(Buffer.from(hex, 'hex')); return false; } catch { return true; }
        });
        parentPort.postMessage(refused.length);
      });
    `, { eval: true, workerData: { decoder, elements: poison.map(([, b]) => b.toString('hex')) }, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
    const refused = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(refused).toBe(poison.length);
  });
});
