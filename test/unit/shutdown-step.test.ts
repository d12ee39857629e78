import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { shutdownStep } from '../../src/shutdown-step.js';

/* A shutdown step that hangs says so in the log, by name, every 10 s, and stops saying it once it is done. */

function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('shutdownStep', () => {
  it('warns with the step name while it is pending, and no more once it settles', async () => {
    vi.useFakeTimers();
    try {
      const { logger, lines } = capturedLogger();
      let finish!: (value: string) => void;
      const step = shutdownStep(logger, 'Redis connections to close', new Promise<string>((resolve) => (finish = resolve)));
      await vi.advanceTimersByTimeAsync(9_999);
      expect(lines).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(20_001);
      expect(lines.map((l) => [l.msg, l.step, l.waitingMs])).toEqual([
        ['shutdown still waiting', 'Redis connections to close', 10_000],
        ['shutdown still waiting', 'Redis connections to close', 20_000],
        ['shutdown still waiting', 'Redis connections to close', 30_000],
      ]);
      finish('done');
      await expect(step).resolves.toBe('done');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(lines).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('passes a failure through', async () => {
    const { logger } = capturedLogger();
    await expect(shutdownStep(logger, 'sinks to close', Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});
