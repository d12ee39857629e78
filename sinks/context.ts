import type { Logger } from '../src/log/logger.js';
import type { PumpConfiguration } from '../src/config/types.js';

/** What every sink gets besides its own pump config: the process logger and the whole configuration. */
export interface SinkContext {
  readonly logger: Logger;
  readonly config: PumpConfiguration;
}
