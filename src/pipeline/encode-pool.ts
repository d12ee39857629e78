import { Worker } from 'node:worker_threads';
import v8 from 'node:v8';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { PumpConfiguration } from '../config/types.js';
import type { Encoding } from '../decode/index.js';
import { SluiceError, errorMessage } from '../errors.js';
import { packageRoot } from '../assets.js';
import type { PreparedBatch } from './prepare-batch.js';

/*
 * Threads that decode and encode claimed batches, so the main thread only moves bytes between Redis and
 * the stores. Decoding and encoding are most of a record's CPU; on one thread they cap a worker at what
 * one core does, whatever the machine has. A batch crosses to a thread as one buffer and comes back as its
 * prepared shares, whose encodings' buffers are moved, not copied (EncodingSink.forTransfer); only
 * batches whose every sink encodes compactly come here (preparesOffThread).
 */

/** What a thread is started with: the validated configuration it builds its sinks from. */
export interface EncodeThreadData {
  config: PumpConfiguration;
}

export interface EncodeRequest {
  seq: number;
  encoding: Encoding;
  sourceKey: string;
  /** The batch's elements back to back; element i ends at ends[i]. */
  bytes: Uint8Array;
  ends: Uint32Array;
}

export type EncodeReply = { seq: number; prepared: PreparedBatch } | { seq: number; error: string };

/**
 * A request's buffer, handed back once the thread has answered, for the next batch to be packed into. It
 * comes in a message of its own, after the reply: anything of the reply that viewed the buffer was copied
 * when the reply was sent, so reusing the buffer cannot change a reply.
 */
export interface SpareBuffer {
  spare: ArrayBuffer;
}

/** An encode thread failed or stopped: the batches it held are to be prepared again, elsewhere. */
export class EncodeThreadError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('encode_thread_failed', message, {}, options);
  }
}

interface Waiting {
  resolve: (prepared: PreparedBatch) => void;
  reject: (err: Error) => void;
}

interface EncodeThread {
  worker: Worker;
  waiting: Map<number, Waiting>;
  /** Set once the thread has built its sinks: a thread that fails before that would fail again. */
  ready: boolean;
}

/**
 * A thread holds one record and one batch's encoding at a time, so its old generation stays small; past
 * this cap it fails, and its batches are prepared on the main thread while a new thread starts. Its young
 * generation is larger than the main thread's 12 MB: a thread allocates about 14 KB per record it decodes,
 * and with 48 MB (three semi-spaces of 16 MB) it scavenges a quarter as often. That took 7–11% off Sluice's
 * CPU per record in the `sql` benchmark, 17–34% in the aggregate one (mostly V8's helper threads'), for
 * 20–30 MB more RSS per thread. V8 rounds semi-spaces up to a power of two: 32 MB gave the same.
 */
const THREAD_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 48 };

/**
 * V8 lets the process's heap flags (`--max-old-space-size`, `--max-semi-space-size`, which the `sluice`
 * command sets for the main thread) override a Worker's resourceLimits: with them, each thread could grow
 * to the main thread's 160 MB. The main isolate read them when it started, so clearing them now leaves its
 * limits as they are and lets each thread's own apply. Every Worker this process starts must therefore bring
 * its own resourceLimits; the encode threads are the only ones.
 */
function releaseProcessHeapFlags(): void {
  v8.setFlagsFromString('--max-old-space-size=0');
  v8.setFlagsFromString('--max-semi-space-size=0');
}

/** The compiled thread entry; tests running from source use the build that `npm test` makes first. */
function threadScript(): string {
  const here = fileURLToPath(new URL('./encode-thread.js', import.meta.url));
  return existsSync(here) ? here : join(packageRoot(), 'dist', 'src', 'pipeline', 'encode-thread.js');
}

/**
 * The elements back to back in `into`, or in a new buffer (not zero-filled, as every byte is written) when
 * it is missing or too small, to be moved to a thread. A new buffer has a quarter to spare, so that once
 * handed back it takes the next batches, which are rarely exactly as large. Copied with set(): on Node 20,
 * Buffer#copy of 1,000 elements of 1.2 KB took four times as long (1.4 ms against 0.33); on Node 24 the
 * two are equal.
 */
function pack(elements: readonly Buffer[], into: ArrayBuffer | undefined): { bytes: Uint8Array; ends: Uint32Array } {
  const ends = new Uint32Array(elements.length);
  let total = 0;
  elements.forEach((e, i) => (ends[i] = total += e.length));
  const buffer = into && into.byteLength >= total ? into : Buffer.allocUnsafeSlow(total + (total >> 2)).buffer;
  const bytes = new Uint8Array(buffer, 0, total);
  elements.forEach((e, i) => bytes.set(e, i === 0 ? 0 : ends[i - 1]!));
  return { bytes, ends };
}

/**
 * Spare buffers kept. With one per thread, 69 of the 200 batches of an hourly benchmark run still needed a
 * new buffer (batches come back in bursts); with four, 8 (the first ones). The byte cap keeps batches of
 * large records from holding much memory idle: those get new buffers, as they did before.
 */
const SPARES_PER_THREAD = 4;
const SPARE_BYTES = 16 * 1024 * 1024;

export class EncodePool {
  private readonly threads: EncodeThread[] = [];
  /**
   * Buffers the threads handed back (SPARES_PER_THREAD per thread, SPARE_BYTES in all). A new buffer per
   * batch, freed by the thread it moved to, cost the main thread 0.7–2.8 ms per 1.1 MB batch in page faults,
   * against 0.1–0.2 ms to pack into memory it had used before.
   */
  private readonly spares: ArrayBuffer[] = [];
  private spareBytes = 0;
  private seq = 0;
  private closing = false;
  private broken = false;

  /** `script` is the thread's entry, the compiled encode-thread.js unless a test brings its own. */
  constructor(private readonly config: PumpConfiguration, size: number, private readonly logger: Logger, private readonly script = threadScript()) {
    if (size > 0) releaseProcessHeapFlags();
    for (let i = 0; i < size; i++) this.threads.push(this.spawn());
  }

  /** False once closed, or when a thread could not start: batches are then prepared on the main thread. */
  get available(): boolean {
    return !this.closing && !this.broken;
  }

  private spawn(): EncodeThread {
    const worker = new Worker(this.script, { workerData: { config: this.config } satisfies EncodeThreadData, resourceLimits: THREAD_LIMITS });
    const thread: EncodeThread = { worker, waiting: new Map(), ready: false };
    worker.on('message', (reply: EncodeReply | SpareBuffer | { ready: true }) => {
      if ('spare' in reply) {
        this.keepSpare(reply.spare);
        return;
      }
      if (!('seq' in reply)) {
        thread.ready = true;
        return;
      }
      const waiting = thread.waiting.get(reply.seq);
      thread.waiting.delete(reply.seq);
      if ('error' in reply) waiting?.reject(new EncodeThreadError(`encode thread: ${reply.error}`));
      else waiting?.resolve(reply.prepared);
    });
    worker.on('error', (err) => this.lose(thread, new EncodeThreadError(`encode thread failed: ${errorMessage(err)}`, { cause: err })));
    worker.on('exit', (code) => this.lose(thread, new EncodeThreadError(`encode thread exited with code ${code}`)));
    // An idle thread must not keep the process alive.
    worker.unref();
    return thread;
  }

  /**
   * A thread that failed or exited: what it held is refused (the caller prepares it again), and a new one
   * takes its place, unless it never started, which a new one would not either.
   */
  private lose(thread: EncodeThread, err: EncodeThreadError): void {
    const at = this.threads.indexOf(thread);
    if (at < 0) return;
    for (const waiting of thread.waiting.values()) waiting.reject(err);
    thread.waiting.clear();
    if (this.closing || this.broken) return;
    void thread.worker.terminate();
    if (!thread.ready) {
      this.broken = true;
      this.logger.error({ err: err.message }, 'encode thread cannot start; batches are prepared on the main thread');
      for (const other of this.threads) void other.worker.terminate();
      return;
    }
    this.logger.error({ err: err.message }, 'encode thread lost; starting another');
    this.threads[at] = this.spawn();
  }

  /** Prepares the batch on the least busy thread; rejects with EncodeThreadError if that thread fails. */
  prepare(elements: readonly Buffer[], encoding: Encoding, sourceKey: string): Promise<PreparedBatch> {
    if (!this.available) return Promise.reject(new EncodeThreadError('encode threads unavailable'));
    const thread = this.threads.reduce((a, b) => (b.waiting.size < a.waiting.size ? b : a));
    const seq = this.seq++;
    const { bytes, ends } = pack(elements, this.takeSpare());
    return new Promise((resolve, reject) => {
      thread.waiting.set(seq, { resolve, reject });
      thread.worker.ref();
      const request: EncodeRequest = { seq, encoding, sourceKey, bytes, ends };
      thread.worker.postMessage(request, [bytes.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
    }).finally(() => {
      if (thread.waiting.size === 0) thread.worker.unref();
    }) as Promise<PreparedBatch>;
  }

  private keepSpare(spare: ArrayBuffer): void {
    if (this.spares.length >= SPARES_PER_THREAD * this.threads.length || this.spareBytes + spare.byteLength > SPARE_BYTES) return;
    this.spares.push(spare);
    this.spareBytes += spare.byteLength;
  }

  private takeSpare(): ArrayBuffer | undefined {
    const spare = this.spares.pop();
    if (spare) this.spareBytes -= spare.byteLength;
    return spare;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
