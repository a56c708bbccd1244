import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Registry } from 'prom-client';

const gzip = promisify(zlib.gzip);

/**
 * Timeouts of the /metrics server, in ms: a kept-alive connection idle for `keepAlive` after an answer is
 * closed, one that has not sent complete request headers within `headers` (or a whole request within
 * `request`) of connecting is closed, and a socket with no traffic at all for `socket` (e.g. a scraper
 * that stopped reading its answer) is destroyed. Prometheus scrapes in well under a second.
 */
export const METRICS_TIMEOUTS_MS = { keepAlive: 5_000, headers: 10_000, request: 15_000, socket: 30_000 };

/** How often Node checks connections against the headers and request timeouts, in ms. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** Where and how many: see {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** Address to listen on (an IPv6 one without brackets). */
  readonly host: string;
  /** TCP port; 0 = any free port. */
  readonly port: number;
  /** Most connections open at once; more are closed as soon as they are accepted. */
  readonly maxConnections: number;
}

/** A running /metrics endpoint. */
export interface MetricsServer {
  /** The bound TCP port (useful when started on port 0). */
  readonly port: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Connections closed at once because maxConnections were open, since start. */
  readonly rejectedConnections: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Serves the registry in the Prometheus text format at `GET /metrics` (HEAD too), gzip-compressed when
 * the request's Accept-Encoding allows gzip; every other path is 404, every other method 405. At most
 * `maxConnections` connections are open at once and none is kept longer than {@link METRICS_TIMEOUTS_MS}
 * allow, so scrapers (or anyone who can reach the port) cannot hold the descriptors the service needs.
 */
export async function startMetricsServer(
  registry: Registry,
  options: MetricsServerOptions,
): Promise<MetricsServer> {
  const server = http.createServer(
    {
      keepAliveTimeout: METRICS_TIMEOUTS_MS.keepAlive,
      headersTimeout: METRICS_TIMEOUTS_MS.headers,
      requestTimeout: METRICS_TIMEOUTS_MS.request,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      const compress = acceptsGzip(req.headers['accept-encoding']);
      registry
        .metrics()
        .then(async (text) => (compress ? gzip(text) : text))
        .then(
          (body) => {
            res.writeHead(200, {
              'content-type': registry.contentType,
              vary: 'Accept-Encoding',
              ...(compress && { 'content-encoding': 'gzip' }),
            });
            res.end(req.method === 'HEAD' ? undefined : body);
          },
          (err: unknown) => {
            res
              .writeHead(500, { 'content-type': 'text/plain' })
              .end(`metrics collection failed: ${String(err)}\n`);
          },
        );
    },
  );
  server.maxConnections = options.maxConnections;
  server.timeout = METRICS_TIMEOUTS_MS.socket;
  let open = 0;
  let rejected = 0;
  server.on('connection', (socket) => {
    open++;
    socket.once('close', () => {
      open--;
    });
  });
  server.on('drop', () => {
    rejected++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    get openConnections() {
      return open;
    },
    get rejectedConnections() {
      return rejected;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/**
 * Whether an Accept-Encoding header allows gzip: listed (or `*`) with a q-value above 0, and not
 * excluded by `gzip;q=0` when `*` is listed too (RFC 9110 §12.5.3).
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (name === 'gzip' || name === 'x-gzip') gzipQ = q;
    else if (name === '*') anyQ = q;
  }
  const q = gzipQ ?? anyQ ?? 0;
  return Number.isFinite(q) && q > 0;
}
