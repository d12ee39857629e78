import type { AnalyticsRecord } from '../record/analytics-record.js';
import type { UptimeRecord } from '../record/uptime-record.js';
import type { GoTime } from '../record/go-time.js';

/*
 * Realistic gateway traffic for demo mode: several orgs with APIs, versions, keys, OAuth clients, tracked
 * endpoints, geo, tags, a believable response-code mix and latencies, spread over the chosen days. The
 * records are shaped as a gateway builds them (tags `key-…`, `org-…`, `api-…`, leading `/` on paths).
 */

export interface TrafficOptions {
  days: number;
  /** The end of the period; records fall in [now − days, now]. */
  now: Date;
  seed: number;
}

/** A small, seedable PRNG (mulberry32), so a demo run can be repeated exactly. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

function weighted<T>(rand: Rand, items: ReadonlyArray<readonly [T, number]>): T {
  const total = items.reduce((n, [, w]) => n + w, 0);
  let r = rand() * total;
  for (const [item, w] of items) if ((r -= w) < 0) return item;
  return items[items.length - 1]![0];
}

const hex = (rand: Rand, length: number) => Array.from({ length }, () => Math.floor(rand() * 16).toString(16)).join('');

interface DemoApi {
  id: string;
  name: string;
  listenPath: string;
  versions: string[];
  endpoints: string[];
  trackPath: boolean;
}

interface DemoOrg {
  id: string;
  apis: DemoApi[];
  keys: string[];
  oauthClients: string[];
}

const API_SHAPES = [
  { name: 'Pets', listenPath: '/pets/', endpoints: ['/pets', '/pets/{id}', '/pets/{id}/photos', '/stores/{id}/inventory'] },
  { name: 'Orders', listenPath: '/orders/', endpoints: ['/orders', '/orders/{id}', '/orders/{id}/items', '/carts/{id}'] },
  { name: 'Identity', listenPath: '/id/', endpoints: ['/users/{id}', '/users/{id}/sessions', '/token', '/userinfo'] },
  { name: 'Catalogue', listenPath: '/catalogue/', endpoints: ['/products', '/products/{id}', '/search', '/categories/{slug}'] },
];

const COUNTRIES = [
  { iso: 'US', city: 'New York', id: 5128581, lat: 40.7128, lon: -74.006, tz: 'America/New_York' },
  { iso: 'GB', city: 'London', id: 2643743, lat: 51.5074, lon: -0.1278, tz: 'Europe/London' },
  { iso: 'DE', city: 'Berlin', id: 2950159, lat: 52.52, lon: 13.405, tz: 'Europe/Berlin' },
  { iso: 'BR', city: 'São Paulo', id: 3448439, lat: -23.5505, lon: -46.6333, tz: 'America/Sao_Paulo' },
  { iso: 'IN', city: 'Mumbai', id: 1275339, lat: 19.076, lon: 72.8777, tz: 'Asia/Kolkata' },
  { iso: 'JP', city: 'Tokyo', id: 1850147, lat: 35.6762, lon: 139.6503, tz: 'Asia/Tokyo' },
];

const CODES: ReadonlyArray<readonly [number, number]> = [
  [200, 70], [201, 5], [204, 3], [304, 3], [400, 3], [401, 3], [403, 2], [404, 5], [429, 2], [500, 2], [502, 1], [503, 1],
];

const AGENTS = ['curl/8.5.0', 'okhttp/4.12.0', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', 'python-requests/2.32.3', 'Go-http-client/2.0'];
const METHODS: ReadonlyArray<readonly [string, number]> = [['GET', 70], ['POST', 15], ['PUT', 7], ['DELETE', 5], ['PATCH', 3]];

function makeOrgs(rand: Rand): DemoOrg[] {
  return Array.from({ length: 3 }, (_, o) => {
    const id = hex(rand, 24);
    return {
      id,
      apis: API_SHAPES.slice(0, 3 + (o % 2)).map((shape, a) => ({
        ...shape, id: hex(rand, 32), versions: a % 2 === 0 ? ['Default'] : ['v1', 'v2'], trackPath: a !== 2,
      })),
      keys: Array.from({ length: 40 }, () => `${id}${hex(rand, 32)}`),
      oauthClients: Array.from({ length: 4 }, () => hex(rand, 16)),
    };
  });
}

/** A time with nanoseconds, as a gateway's clock gives them. */
function timeAt(rand: Rand, ms: number): GoTime {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.floor(ms - sec * 1000) * 1e6 + Math.floor(rand() * 1e6) };
}

function concrete(rand: Rand, template: string): string {
  return template.replace(/\{(\w+)\}/g, () => String(1 + Math.floor(rand() * 500)));
}

function httpDump(method: string, path: string, host: string, agent: string): string {
  return Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${agent}\r\nAccept: application/json\r\n\r\n`).toString('base64');
}

/** An endless stream of analytics records for the options' period. */
export function* analyticsTraffic(opts: TrafficOptions): Generator<AnalyticsRecord, never> {
  const rand = random(opts.seed);
  const orgs = makeOrgs(rand);
  const end = opts.now.getTime();
  const span = opts.days * 86_400_000;
  for (;;) {
    const org = pick(rand, orgs);
    const api = pick(rand, org.apis);
    const when = new Date(end - rand() * span);
    const timestamp = timeAt(rand, when.getTime());
    const geo = pick(rand, COUNTRIES);
    const tcp = rand() < 0.03;
    const code = tcp ? -1 : weighted(rand, CODES);
    const method = tcp ? '' : weighted(rand, METHODS);
    const template = pick(rand, api.endpoints);
    const rawPath = tcp ? '/' : `${api.listenPath.slice(0, -1)}${concrete(rand, template)}`;
    const apiKey = tcp || rand() < 0.1 ? '' : pick(rand, org.keys);
    const oauth = !tcp && api.name === 'Identity' && rand() < 0.5 ? pick(rand, org.oauthClients) : '';
    const upstream = tcp ? 0 : Math.round(5 + rand() ** 3 * 900);
    const gateway = tcp ? 0 : Math.round(1 + rand() * 6);
    const host = `${api.name.toLowerCase()}.example.com`;
    const agent = pick(rand, AGENTS);
    const detailed = !tcp && rand() < 0.1;
    yield {
      method, host, path: tcp ? '/' : `${api.listenPath.slice(0, -1)}${template}`, raw_path: rawPath,
      content_length: method === 'POST' || method === 'PUT' ? Math.floor(rand() * 4000) : 0, user_agent: tcp ? '' : agent,
      day: when.getUTCDate(), month: when.getUTCMonth() + 1, year: when.getUTCFullYear(), hour: when.getUTCHours(),
      response_code: code, api_key: apiKey, timestamp, api_version: pick(rand, api.versions), api_name: `${api.name} API`,
      api_id: api.id, org_id: org.id, oauth_id: oauth, request_time: upstream + gateway,
      raw_request: detailed ? httpDump(method, rawPath, host, agent) : '',
      raw_response: detailed ? Buffer.from(`HTTP/1.1 ${code}\r\nContent-Type: application/json\r\n\r\n{}`).toString('base64') : '',
      ip_address: `${10 + Math.floor(rand() * 200)}.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}.${1 + Math.floor(rand() * 254)}`,
      geo: {
        country: { iso_code: geo.iso },
        city: { geoname_id: geo.id, names: { en: geo.city } },
        location: { latitude: geo.lat, longitude: geo.lon, time_zone: geo.tz },
      },
      network: tcp
        ? { open_connections: 1 + Math.floor(rand() * 5), closed_connections: Math.floor(rand() * 5), bytes_in: Math.floor(rand() * 1e5), bytes_out: Math.floor(rand() * 1e6) }
        : { open_connections: 0, closed_connections: 0, bytes_in: 0, bytes_out: 0 },
      latency: { total: upstream + gateway, upstream, gateway },
      tags: [...(apiKey ? [`key-${apiKey}`] : []), `org-${org.id}`, `api-${api.id}`],
      alias: apiKey ? `client-${apiKey.slice(-4)}` : '', track_path: !tcp && api.trackPath,
      expireAt: { sec: timestamp.sec + 7 * 86_400, nsec: timestamp.nsec }, api_schema: '',
      original_path: '', listen_path: api.listenPath,
      graphql_stats: { Variables: '', RootFields: null, Types: null, Errors: null, OperationType: 0, HasErrors: false, IsGraphQL: false },
      mcp_stats: { is_mcp: false, jsonrpc_method: '', primitive_type: '', primitive_name: '' },
    };
  }
}

/** Host-checker reports for the same period. */
export function* uptimeTraffic(opts: TrafficOptions): Generator<UptimeRecord, never> {
  const rand = random(opts.seed + 1);
  const orgs = makeOrgs(random(opts.seed));
  const end = opts.now.getTime();
  for (;;) {
    const org = pick(rand, orgs);
    const api = pick(rand, org.apis);
    const when = new Date(end - rand() * opts.days * 86_400_000);
    const timestamp = timeAt(rand, when.getTime());
    const tcpError = rand() < 0.02;
    const code = tcpError ? 521 : weighted(rand, [[200, 95], [500, 3], [503, 2]] as const);
    yield {
      _id: '', url: `https://${api.name.toLowerCase()}.example.com/health`, request_time: Math.round(5 + rand() * 200),
      response_code: code, tcp_error: tcpError, server_error: !tcpError && code > 200,
      day: when.getUTCDate(), month: when.getUTCMonth() + 1, year: when.getUTCFullYear(), hour: when.getUTCHours(),
      minute: when.getUTCMinutes(), timestamp, ExpireAt: { sec: timestamp.sec + 100 * 365 * 86_400, nsec: timestamp.nsec },
      api_id: api.id, org_id: org.id,
    };
  }
}
