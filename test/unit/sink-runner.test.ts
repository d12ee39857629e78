import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { SinkRunner, type Delivery } from '../../src/delivery/sink-runner.js';
import { SinkError, encodeBatch, type BatchEncoder, type EncodingSink, type SinkBatch, type WriteOutcome } from '../../sinks/sink.js';

/* The runner's queueing with a stand-in sink: which calls a sink gets, not what a store does with them. */

const written = (n: number): WriteOutcome => ({ written: n, alreadyApplied: false, rejected: [] });

class RecordingSink implements EncodingSink<number, string> {
  readonly name = 'RECORDING';
  readonly compactEncoding = true;
  readonly calls: string[][] = [];
  failTogether = false;
  private release: (() => void) | undefined;
  /** Holds the first write until released, so later batches queue up behind it. */
  private gate: Promise<void> | undefined = new Promise((resolve) => (this.release = resolve));

  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async health() {
    return { ok: true };
  }
  openGate(): void {
    this.release?.();
  }
  encoder(batchId: string): BatchEncoder<number, string> {
    let count = 0;
    return {
      add: ({ record }) => {
        if (record < 0) throw new RangeError('negative');
        count += 1;
      },
      finish: () => `${batchId}:${count}`,
    };
  }
  write(batch: SinkBatch<number>): Promise<WriteOutcome> {
    return this.writeEncoded(encodeBatch(this, batch));
  }
  async writeEncoded(encoded: string): Promise<WriteOutcome> {
    this.calls.push([encoded]);
    const gate = this.gate;
    this.gate = undefined;
    await gate;
    return written(Number(encoded.split(':')[1]));
  }
  async writeEncodedTogether(encoded: readonly string[]): Promise<WriteOutcome[]> {
    if (this.failTogether) throw new Error('combined write refused');
    this.calls.push([...encoded]);
    return encoded.map((e) => written(Number(e.split(':')[1])));
  }
}

function runner(sink: RecordingSink): SinkRunner<number> {
  return new SinkRunner(sink, {
    logger: createLogger({ level: 'silent' }),
    metrics: { observeWrite: () => {}, retried: () => {} },
    timeoutSeconds: 0, maxQueued: 100, writeConcurrency: 1, inProcessAttempts: 3, retryBaseMs: 1,
  });
}

const batchOf = (id: string, n: number): SinkBatch<number> => ({
  id, records: Array.from({ length: n }, (_, i) => ({ id: `${id}-${i}`, record: i, bytes: 1 })),
});

describe('SinkRunner', () => {
  it('writes batches that queued up behind a write together, each delivery with its own outcome', async () => {
    const sink = new RecordingSink();
    const r = runner(sink);
    const deliveries = [1, 2, 3, 4].map((n) => r.deliver(batchOf(`b${n}`, n)));
    sink.openGate();
    const outcomes = await Promise.all(deliveries);
    expect(sink.calls).toEqual([['b1:1'], ['b2:2', 'b3:3', 'b4:4']]);
    expect(outcomes).toEqual([1, 2, 3, 4].map((n): Delivery => ({ kind: 'written', outcome: written(n) })));
  });

  it('falls back to one write per batch when the combined write fails', async () => {
    const sink = new RecordingSink();
    sink.failTogether = true;
    const r = runner(sink);
    const deliveries = [1, 2, 3].map((n) => r.deliver(batchOf(`b${n}`, n)));
    sink.openGate();
    expect((await Promise.all(deliveries)).map((d) => d.kind === 'written' && d.outcome.written)).toEqual([1, 2, 3]);
    expect(sink.calls).toEqual([['b1:1'], ['b2:2'], ['b3:3']]);
  });

  it('a batch the sink cannot encode is refused for good, and the next one is written', async () => {
    const sink = new RecordingSink();
    sink.openGate();
    const r = runner(sink);
    const bad = r.deliver({ id: 'bad', records: [{ id: 'x', record: -1, bytes: 1 }] });
    await expect(bad).rejects.toMatchObject({ name: 'SinkError', transient: false, message: expect.stringContaining('cannot encode batch bad: negative') });
    await expect(bad).rejects.toBeInstanceOf(SinkError);
    expect(await r.deliver(batchOf('good', 2))).toEqual({ kind: 'written', outcome: written(2) });
  });
});
