import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { FOLD_LINGER_MS, RECOVERY_PROBE_MS, SinkRunner, type Delivery } from '../../src/delivery/sink-runner.js';
import { ShutdownError } from '../../src/delivery/backoff.js';
import { FoldConflictError, SinkError, encodeBatch, type BatchEncoder, type EncodingSink, type SinkBatch, type WriteOutcome } from '../../sinks/sink.js';

/* The runner's queueing with a stand-in sink: which calls a sink gets, not what a store does with them. */

const written = (n: number): WriteOutcome => ({ written: n, alreadyApplied: false, rejected: [] });

class RecordingSink implements EncodingSink<number, string> {
  readonly name = 'RECORDING';
  readonly compactEncoding = true;
  readonly calls: string[][] = [];
  failTogether = false;
  /** Batches a fold may hold before the sink says it is full. */
  foldLimit = Infinity;
  /** A batch id the store holds already: a fold with it in conflicts. */
  conflictOn: string | undefined;
  /** Writes still to fail, as a store that is down fails them. */
  failures = 0;
  /** What health() says; probes ask it. */
  answers = true;
  /** health() never answers, as a store behind a black-holed network. */
  hangs = false;
  probes = 0;
  private release: (() => void) | undefined;
  /** Holds the first write until released, so later batches queue up behind it. */
  private gate: Promise<void> | undefined = new Promise((resolve) => (this.release = resolve));

  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async health() {
    this.probes += 1;
    if (this.hangs) await new Promise(() => undefined);
    return { ok: this.answers };
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
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('store down');
    }
    this.calls.push([encoded]);
    const gate = this.gate;
    this.gate = undefined;
    await gate;
    return written(Number(encoded.split(':')[1]));
  }
  fold(into: string, next: string): string | undefined {
    return into.split('+').length >= this.foldLimit ? undefined : `${into}+${next}`;
  }
  heapBytes(encoded: string): number {
    return encoded.split('+').length * 10;
  }
  async writeFolded(folded: string): Promise<WriteOutcome[]> {
    const batches = folded.split('+');
    if (this.conflictOn !== undefined && batches.some((b) => b.startsWith(`${this.conflictOn}:`))) {
      throw new FoldConflictError(this.name, [this.conflictOn], batches.length);
    }
    if (this.failTogether) throw new Error('combined write refused');
    this.calls.push(batches);
    return batches.map((e) => written(Number(e.split(':')[1])));
  }
}

function runner(sink: RecordingSink): SinkRunner<number> {
  return new SinkRunner(sink, {
    logger: createLogger({ level: 'silent' }),
    metrics: { observeWrite: () => {}, observeWriteBatches: () => {}, retried: () => {} },
    timeoutSeconds: 0, maxQueued: 100, writeConcurrency: 1, inProcessAttempts: 3, retryBaseMs: 1,
  });
}

const batchOf = (id: string, n: number): SinkBatch<number> => ({
  id, records: Array.from({ length: n }, (_, i) => ({ id: `${id}-${i}`, record: i, bytes: 1 })),
});

describe('SinkRunner', () => {
  it('folds batches that queued up behind a write into one write, each delivery with its own outcome', async () => {
    const sink = new RecordingSink();
    const r = runner(sink);
    const deliveries = [1, 2, 3, 4].map((n) => r.deliver(batchOf(`b${n}`, n)));
    sink.openGate();
    const outcomes = await Promise.all(deliveries);
    expect(sink.calls).toEqual([['b1:1'], ['b2:2', 'b3:3', 'b4:4']]);
    expect(outcomes).toEqual([1, 2, 3, 4].map((n): Delivery => ({ kind: 'written', outcome: written(n) })));
  });

  it('counts the heap its queued encodings hold, folds included, until they are written', async () => {
    const sink = new RecordingSink();
    const r = runner(sink);
    const deliveries = [1, 2, 3].map((n) => r.deliver(batchOf(`b${n}`, n)));
    expect(r.heldHeapBytes).toBe(30);
    sink.openGate();
    await Promise.all(deliveries);
    // A write's slot, and the heap it counts, is released just after its batches resolve.
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.heldHeapBytes).toBe(0);
  });

  it('starts another write when the sink says a fold is full', async () => {
    const sink = new RecordingSink();
    sink.foldLimit = 2;
    const r = runner(sink);
    const deliveries = [1, 2, 3, 4, 5].map((n) => r.deliver(batchOf(`b${n}`, n)));
    sink.openGate();
    await Promise.all(deliveries);
    expect(sink.calls).toEqual([['b1:1'], ['b2:2', 'b3:3'], ['b4:4', 'b5:5']]);
  });

  it.each([
    ['the folded write fails', (sink: RecordingSink) => (sink.failTogether = true)],
    ['a fold holds a batch the store had applied already', (sink: RecordingSink) => (sink.conflictOn = 'b2')],
  ])('writes each batch alone, prepared again, when %s', async (_, breakFold) => {
    const sink = new RecordingSink();
    breakFold(sink);
    const r = runner(sink);
    const deliveries = [1, 2, 3].map((n) => r.deliver(batchOf(`b${n}`, n)));
    sink.openGate();
    expect((await Promise.all(deliveries)).map((d) => d.kind === 'written' && d.outcome.written)).toEqual([1, 2, 3]);
    expect(sink.calls).toEqual([['b1:1'], ['b2:2'], ['b3:3']]);
  });

  it('never folds the same batch twice into one write (a take-over racing its owner)', async () => {
    const sink = new RecordingSink();
    const r = runner(sink);
    const deliveries = [r.deliver(batchOf('b1', 1)), r.deliver(batchOf('b2', 2)), r.deliver(batchOf('b2', 2)), r.deliver(batchOf('b3', 3))];
    sink.openGate();
    await Promise.all(deliveries);
    expect(sink.calls).toEqual([['b1:1'], ['b2:2'], ['b2:2', 'b3:3']]);
  });

  it('a batch that cannot be prepared again after a failed fold is handed back, and the others are written', async () => {
    const sink = new RecordingSink();
    sink.failTogether = true;
    const r = runner(sink);
    const share = (id: string) => ({ kind: 'encoded' as const, encoded: `${id}:1` });
    const lost = () => {
      throw new Error('elements gone');
    };
    const deliveries = [
      r.deliverShare('b1', share('b1'), undefined, () => share('b1')),
      r.deliverShare('b2', share('b2'), undefined, lost),
      r.deliverShare('b3', share('b3'), undefined, () => share('b3')),
    ];
    sink.openGate();
    const settled = await Promise.allSettled(deliveries);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(sink.calls).toEqual([['b1:1'], ['b3:1']]);
  });

  it('does not fold a batch that could not be prepared again on its own', async () => {
    const sink = new RecordingSink();
    const r = runner(sink);
    const share = (id: string) => ({ kind: 'encoded' as const, encoded: `${id}:1` });
    const deliveries = [r.deliverShare('b1', share('b1')), r.deliverShare('b2', share('b2')), r.deliverShare('b3', share('b3'))];
    sink.openGate();
    await Promise.all(deliveries);
    expect(sink.calls).toEqual([['b1:1'], ['b2:1'], ['b3:1']]);
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

describe('SinkRunner: a fold waits for batches still on their way', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const share = (id: string) => ({ kind: 'encoded' as const, encoded: `${id}:1` });
  /** A runner whose pipeline says `coming` more batches are on their way. */
  function waitingRunner(sink: RecordingSink, coming: { n: number }): SinkRunner<number> {
    const r = runner(sink);
    r.waitForBatchesWhile(() => coming.n > 0);
    return r;
  }
  /** As the pipeline hands a prepared batch over: deliverShare, one fewer on its way, reconsider. */
  const handOver = (r: SinkRunner<number>, coming: { n: number }, id: string, reprepare = true) => {
    const delivery = r.deliverShare(id, share(id), undefined, reprepare ? () => share(id) : undefined);
    coming.n -= 1;
    r.reconsider();
    return delivery;
  };

  it('holds the write while batches are on their way, and writes them as one fold when the last arrives', async () => {
    const sink = new RecordingSink();
    sink.openGate();
    const coming = { n: 3 };
    const r = waitingRunner(sink, coming);
    const first = [handOver(r, coming, 'b1'), handOver(r, coming, 'b2')];
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.calls).toEqual([]);
    const last = handOver(r, coming, 'b3');
    await Promise.all([...first, last]);
    expect(sink.calls).toEqual([['b1:1', 'b2:1', 'b3:1']]);
  });

  it('writes as soon as nothing more is on its way, whether or not a batch came', async () => {
    const sink = new RecordingSink();
    sink.openGate();
    const coming = { n: 2 };
    const r = waitingRunner(sink, coming);
    const delivery = handOver(r, coming, 'b1');
    // The other claim came back empty.
    coming.n = 0;
    r.reconsider();
    await delivery;
    expect(sink.calls).toEqual([['b1:1']]);
  });

  it(`waits at most ${FOLD_LINGER_MS} ms for batches that do not come`, async () => {
    vi.useFakeTimers();
    const sink = new RecordingSink();
    sink.openGate();
    const coming = { n: 2 };
    const delivery = handOver(waitingRunner(sink, coming), coming, 'b1');
    await vi.advanceTimersByTimeAsync(FOLD_LINGER_MS - 1);
    expect(sink.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await delivery;
    expect(sink.calls).toEqual([['b1:1']]);
  });

  it('does not hold a batch that could not be folded with others (a redelivery)', async () => {
    const sink = new RecordingSink();
    sink.openGate();
    const coming = { n: 2 };
    await handOver(waitingRunner(sink, coming), coming, 'b1', false);
    expect(sink.calls).toEqual([['b1:1']]);
  });

  it('hands back a waiting fold at shutdown', async () => {
    const sink = new RecordingSink();
    sink.openGate();
    const coming = { n: 2 };
    const r = waitingRunner(sink, coming);
    const delivery = handOver(r, coming, 'b1');
    r.stopAccepting();
    await expect(delivery).rejects.toBeInstanceOf(ShutdownError);
    expect(sink.calls).toEqual([]);
  });
});

describe('SinkRunner: recovery', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A runner whose sink failed a write that then went to the retry queue, and that nothing writes to since. */
  async function failedAndIdle(sink: RecordingSink) {
    const r = runner(sink);
    const recoveries: number[] = [];
    r.onRecovery(() => recoveries.push(Date.now()));
    await r.open();
    const probing = r.probeWhileFailing();
    sink.failures = 3;
    const delivery = r.deliver(batchOf('b1', 1), async () => undefined);
    await vi.advanceTimersByTimeAsync(100);
    expect(await delivery).toEqual({ kind: 'queued' });
    return { r, recoveries, probing };
  }

  it('asks a failing sink whether it works again, and says so when it does', async () => {
    vi.useFakeTimers();
    const sink = new RecordingSink();
    sink.openGate();
    sink.answers = false;
    const { r, recoveries, probing } = await failedAndIdle(sink);
    expect(recoveries).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(sink.probes).toBe(1);
    expect(recoveries).toHaveLength(1);
    sink.answers = true;
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(recoveries).toHaveLength(2);
    // Working, it is not asked again.
    await vi.advanceTimersByTimeAsync(3 * RECOVERY_PROBE_MS);
    expect(sink.probes).toBe(2);
    r.stopAccepting();
    await probing;
  });

  it(`gives up on a probe that gets no answer (after ${RECOVERY_PROBE_MS} ms without a write deadline) and probes again`, async () => {
    vi.useFakeTimers();
    const sink = new RecordingSink();
    sink.openGate();
    sink.hangs = true;
    const { r, recoveries, probing } = await failedAndIdle(sink);
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(sink.probes).toBe(1);
    sink.hangs = false;
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(sink.probes).toBe(2);
    expect(recoveries).toHaveLength(2);
    r.stopAccepting();
    await probing;
  });

  it('tells no one once it has stopped', async () => {
    vi.useFakeTimers();
    const sink = new RecordingSink();
    sink.openGate();
    const { r, recoveries, probing } = await failedAndIdle(sink);
    r.stopAccepting();
    await probing;
    await r.writeFromRetryQueue({ kind: 'encoded', encoded: 'b9:1' }, new AbortController().signal);
    expect(recoveries).toHaveLength(1);
  });

  it('asks half as often after a yes that the next write belied, and as often again after a write', async () => {
    vi.useFakeTimers();
    const sink = new RecordingSink();
    sink.openGate();
    const { r, recoveries, probing } = await failedAndIdle(sink);
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(recoveries).toHaveLength(2);

    sink.failures = 3;
    const belied = r.deliver(batchOf('b2', 1), async () => undefined);
    await vi.advanceTimersByTimeAsync(100);
    expect(await belied).toEqual({ kind: 'queued' });
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(recoveries).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(recoveries).toHaveLength(3);

    await r.deliver(batchOf('b3', 1));
    sink.failures = 3;
    const again = r.deliver(batchOf('b4', 1), async () => undefined);
    await vi.advanceTimersByTimeAsync(100);
    expect(await again).toEqual({ kind: 'queued' });
    await vi.advanceTimersByTimeAsync(RECOVERY_PROBE_MS);
    expect(recoveries).toHaveLength(4);
    r.stopAccepting();
    await probing;
  });

  it('tells its listeners when the sink first works, and each time it works again after failing', async () => {
    const sink = new RecordingSink();
    sink.openGate();
    const r = runner(sink);
    let recoveries = 0;
    r.onRecovery(() => (recoveries += 1));
    await r.open();
    expect(recoveries).toBe(1);
    await r.deliver(batchOf('b1', 1));
    expect(recoveries).toBe(1);

    sink.failures = 2;
    await r.deliver(batchOf('b2', 1));
    expect(recoveries).toBe(2);

    sink.failures = 1;
    const share = { kind: 'encoded' as const, encoded: 'b3:1' };
    await expect(r.writeFromRetryQueue(share, new AbortController().signal)).rejects.toThrow('store down');
    expect(recoveries).toBe(2);
    await r.writeFromRetryQueue(share, new AbortController().signal);
    expect(recoveries).toBe(3);
    expect(sink.calls).toEqual([['b1:1'], ['b2:1'], ['b3:1']]);
  });
});
