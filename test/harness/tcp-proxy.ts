import { connect, createServer, type Socket } from 'node:net';

/** A TCP forwarder a test controls, to cut a service off from Sluice and bring it back. */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every forwarded connection; new ones are accepted and dropped at once until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Listens on a free loopback port and forwards every connection to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket>();
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
    client.pipe(upstream);
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
