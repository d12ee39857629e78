import { errorMessage } from '../../src/errors.js';
import { SinkError, type SinkHealth } from '../sink.js';
import { connectMongo, type MongoConnection, type MongoConnectionSettings, type MongoSinkHooks } from './connection.js';

/** One sink's client: connected on open, reused by every write, closed once. */
export class MongoHandle {
  private connection: MongoConnection | undefined;

  constructor(private readonly sink: string, private readonly hooks: MongoSinkHooks) {}

  async connect(settings: MongoConnectionSettings, signal: AbortSignal): Promise<MongoConnection> {
    this.connection ??= await connectMongo(this.sink, settings, this.hooks, signal);
    return this.connection;
  }

  /** The open connection; writing before open is the caller's bug, but it is retried like an outage. */
  get current(): MongoConnection {
    if (!this.connection) throw new SinkError(this.sink, 'not connected', true);
    return this.connection;
  }

  async health(): Promise<SinkHealth> {
    if (!this.connection) return { ok: false, detail: 'not connected' };
    try {
      await this.connection.db.command({ ping: 1 });
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: errorMessage(err) };
    }
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.client.close();
  }
}
