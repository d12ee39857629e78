import { createServer, type Server } from 'node:http';
import type { Metrics } from '../metrics/metrics.js';

export interface HealthProbes {
  /** The claim loop and every sink loop made progress recently. */
  live(): { ok: boolean; detail: Record<string, unknown> };
  /** Redis and every sink reachable. */
  ready(): Promise<{ ok: boolean; detail: Record<string, unknown> }>;
}

export interface HttpOptions {
  port: number;
  /** Tyk's `health_check_endpoint_name`: GET /<name> answers `{"status": "ok"}` as Tyk Pump does. */
  tykHealthName: string;
  metrics: Metrics;
  probes: HealthProbes;
}

function json(status: number, body: unknown): [number, string, string] {
  return [status, 'application/json', JSON.stringify(body)];
}

/** /health (Tyk's), /live and /ready for orchestrators, /metrics for Prometheus. */
export function startHttpServer(opts: HttpOptions): Promise<Server> {
  const routes: Record<string, () => Promise<[number, string, string]>> = {
    [`/${opts.tykHealthName}`]: async () => json(200, { status: 'ok' }),
    '/live': async () => {
      const live = opts.probes.live();
      return json(live.ok ? 200 : 503, { status: live.ok ? 'ok' : 'stalled', ...live.detail });
    },
    '/ready': async () => {
      const ready = await opts.probes.ready();
      return json(ready.ok ? 200 : 503, { status: ready.ok ? 'ok' : 'unavailable', ...ready.detail });
    },
    '/metrics': async () => [200, opts.metrics.registry.contentType, await opts.metrics.registry.metrics()],
  };
  const server = createServer((req, res) => {
    const route = req.method === 'GET' ? routes[(req.url ?? '/').split('?')[0]!] : undefined;
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    route()
      .then(([status, type, body]) => res.writeHead(status, { 'content-type': type }).end(body))
      .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
