import { connect, createServer, type Socket } from 'node:net';

/** A TCP forwarder a test controls, to cut a service off from Sluice and bring it back. */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every forwarded connection; new ones are accepted and dropped at once until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  targetHost?: string;
  /**
   * Client→server bytes of all connections together leave at no more than this (the client is paused
   * while a chunk waits for its slot); server→client is not limited. Unlimited when absent.
   */
  bytesPerSecond?: number;
}

/** Forwards client→server bytes, at most `bytesPerSecond` of them across all connections. */
function throttled(client: Socket, upstream: Socket, bytesPerSecond: number, slots: { next: number }): void {
  client.on('data', (chunk: Buffer) => {
    const now = performance.now();
    const at = Math.max(now, slots.next);
    slots.next = at + (chunk.length / bytesPerSecond) * 1000;
    if (at - now < 1) {
      upstream.write(chunk);
      return;
    }
    client.pause();
    setTimeout(() => {
      upstream.write(chunk);
      client.resume();
    }, at - now);
  });
  client.once('end', () => upstream.end());
}

/** Listens on a free loopback port and forwards every connection to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const { targetHost = '127.0.0.1', bytesPerSecond } = options;
  const open = new Set<Socket>();
  const slots = { next: 0 };
  let cut = false;
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    // A cut connection errors on both sides; that is the point, not a test failure.
    socket.on('error', () => undefined);
  };
  const server = createServer((client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    track(upstream);
    if (bytesPerSecond === undefined) client.pipe(upstream);
    else throttled(client, upstream, bytesPerSecond, slots);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const destroyAll = () => {
    for (const socket of open) socket.destroy();
  };
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      cut = true;
      destroyAll();
    },
    restore() {
      cut = false;
    },
    close() {
      destroyAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy in front of the PostgreSQL server of `url`, and `url` as it reads through the proxy. */
export async function proxyPostgres(url: string, options: TcpProxyOptions = {}): Promise<{ proxy: TcpProxy; url: string }> {
  const through = new URL(url);
  const proxy = await startTcpProxy(Number(through.port || 5432), options);
  through.port = String(proxy.port);
  return { proxy, url: through.toString() };
}
