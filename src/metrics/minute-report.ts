import type { Counter } from 'prom-client';
import type { Logger } from '../log/logger.js';
import { sleep } from '../delivery/backoff.js';
import type { Metrics } from './metrics.js';

/** A counter's values summed by one label (e.g. records written per sink). */
async function byLabel(counter: Counter<string>, label: string): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const { labels, value } of (await counter.get()).values) {
    const key = String(labels[label] ?? '');
    totals[key] = (totals[key] ?? 0) + value;
  }
  return totals;
}

async function sum(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((n, v) => n + v.value, 0);
}

/** One info line a minute with the totals since start: enough to see a pump working without debug logs. */
export async function reportEveryMinute(metrics: Metrics, logger: Logger, signal: AbortSignal, intervalMs = 60_000): Promise<void> {
  while (!signal.aborted) {
    await sleep(intervalMs, signal);
    logger.info({
      claimed: await sum(metrics.claimed),
      redelivered: await sum(metrics.redelivered),
      decoded: await sum(metrics.decoded),
      written: await byLabel(metrics.written, 'sink'),
      deadLettered: await byLabel(metrics.deadLettered, 'kind'),
      retries: await byLabel(metrics.retries, 'sink'),
    }, 'totals since start');
  }
}
