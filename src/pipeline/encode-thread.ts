import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log/logger.js';
import { errorMessage } from '../errors.js';
import { planSinks } from './sink-plans.js';
import { prepareBatch, type PreparedBatch, type PreparingRoute } from './prepare-batch.js';
import { isEncodingSink } from '../../sinks/sink.js';
import type { EncodeReply, EncodeRequest, EncodeThreadData, SpareBuffer } from './encode-pool.js';

/*
 * An encode thread: builds the configuration's sinks (never opened: only their pure encoders run here)
 * and answers each request with the prepared batch. Warnings the sinks' settings raise are the main
 * thread's to log, where the same sinks are built and opened, so this thread's logger is silent.
 */

const { config } = workerData as EncodeThreadData;
const plans = await planSinks(config, { logger: createLogger({ level: 'silent' }), config });
const port = parentPort!;

/** The elements, as views into the one buffer they crossed the thread boundary in. */
function elementsOf({ bytes, ends }: EncodeRequest): Buffer[] {
  const elements: Buffer[] = [];
  let start = 0;
  for (const end of ends) {
    elements.push(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start));
    start = end;
  }
  return elements;
}

/**
 * Puts each share's encoding in the form its sink sends across threads (EncodingSink.forTransfer), and
 * returns the buffers to move to the main thread rather than copy.
 */
function readyForTransfer(prepared: PreparedBatch, routes: readonly PreparingRoute[]): ArrayBuffer[] {
  const transfer: ArrayBuffer[] = [];
  for (const share of prepared.shares) {
    const { sink } = routes[share.route]!;
    if (share.content.kind !== 'encoded' || !isEncodingSink(sink) || !sink.forTransfer) continue;
    const crossing = sink.forTransfer(share.content.encoded);
    share.content = { kind: 'encoded', encoded: crossing.encoded };
    transfer.push(...crossing.transfer);
  }
  return transfer;
}

port.on('message', (request: EncodeRequest) => {
  let reply: EncodeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const routes = request.encoding === 'uptime' ? plans.uptime : plans.analytics;
    const prepared = prepareBatch(elementsOf(request), request.encoding, request.sourceKey, routes);
    reply = { seq: request.seq, prepared };
    transfer = readyForTransfer(prepared, routes);
  } catch (err) {
    reply = { seq: request.seq, error: errorMessage(err) };
  }
  try {
    port.postMessage(reply, transfer);
  } catch (err) {
    // An encoding that cannot be cloned fails this batch, not the thread.
    port.postMessage({ seq: request.seq, error: `cannot send the prepared batch: ${errorMessage(err)}` } satisfies EncodeReply);
  }
  // Only now: the reply is sent, so no part of it can still be a view of this buffer.
  const spare = request.bytes.buffer as ArrayBuffer;
  port.postMessage({ spare } satisfies SpareBuffer, [spare]);
});
port.postMessage({ ready: true });
