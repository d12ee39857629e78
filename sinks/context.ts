import type { Logger } from '../src/log/logger.js';
import type { PumpConfiguration } from '../src/config/types.js';
import type { Metrics } from '../src/metrics/metrics.js';

/** What every sink gets besides its own pump config: the process logger, metrics and the whole configuration. */
export interface SinkContext {
  readonly logger: Logger;
  readonly config: PumpConfiguration;
  /** Absent in tools that build sinks without running the pipeline (`sluice check`, tests). */
  readonly metrics?: Metrics;
}
