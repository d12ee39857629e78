import { describe, expect, it } from 'vitest';
import { encodeAnalyticsMsgpack, encodeUptimeMsgpack } from '../../src/demo/gateway-encoding.js';
import { decodeAnalyticsMsgpack, decodeUptimeMsgpack } from '../../src/decode/msgpack.js';
import { analyticsMsgpackFixtures, uptimeMsgpackFixtures } from '../harness/fixtures.js';

describe('the gateway encoder writes what the decoder reads back', () => {
  it('round-trips every analytics fixture record', () => {
    for (const f of analyticsMsgpackFixtures()) expect(decodeAnalyticsMsgpack(encodeAnalyticsMsgpack(f.record))).toEqual(f.record);
  });

  it('round-trips every uptime fixture record', () => {
    for (const f of uptimeMsgpackFixtures()) expect(decodeUptimeMsgpack(encodeUptimeMsgpack(f.record))).toEqual(f.record);
  });

  it('writes the same bytes as the gateway for a record without Go maps (uptime line 0)', () => {
    const f = uptimeMsgpackFixtures()[0]!;
    expect(encodeUptimeMsgpack(f.record).toString('hex')).toBe(f.bytes.toString('hex'));
  });
});
