import { SluiceError } from '../errors.js';

/** One thing wrong with the configuration, located by its key path (e.g. `pumps.SQL.meta.batch_size`). */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** The configuration cannot be used; every problem found is listed, each naming its key. */
export class ConfigError extends SluiceError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super('config_invalid', problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('\n'), { problems });
  }
}
