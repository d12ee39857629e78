import { SluiceError } from '../errors.js';

/** A list element that is not a record the gateway could have written. It is dead-lettered, never thrown past the batch. */
export class DecodeError extends SluiceError {
  constructor(reason: string, readonly field?: string) {
    super('decode_failed', field ? `${field}: ${reason}` : reason, field ? { field } : {});
  }
}
