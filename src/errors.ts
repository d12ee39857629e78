/**
 * Every error Sluice raises on purpose is a SluiceError: it carries a stable `code` for logs and metrics
 * and the context an operator needs, and keeps the error it wraps as `cause`.
 */
export class SluiceError extends Error {
  readonly code: string;
  readonly context: Record<string, unknown>;

  constructor(code: string, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
