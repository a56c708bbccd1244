import * as http from 'node:http';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { Counter, Registry } from 'prom-client';
import { acceptsGzip, startMetricsServer, type MetricsServer } from '../../src/metrics/http-server';

/** One request with `headers`; the raw (still encoded) body and the response headers. */
function get(
  port: number,
  headers: http.OutgoingHttpHeaders,
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/metrics', method, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the /metrics HTTP server', () => {
  const registry = new Registry();
  new Counter({ name: 'test_things_total', help: 'Things.', registers: [registry] }).inc(7);
  let server: MetricsServer;
  beforeAll(async () => {
    server = await startMetricsServer(registry, { host: '127.0.0.1', port: 0, maxConnections: 4 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('GIVEN Accept-Encoding: gzip THEN the body is gzip-compressed and decompresses to the exposition', async () => {
    const plain = await registry.metrics();
    const r = await get(server.port, { 'accept-encoding': 'gzip' });
    expect({ status: r.status, encoding: r.headers['content-encoding'], vary: r.headers.vary }).toEqual({
      status: 200,
      encoding: 'gzip',
      vary: 'Accept-Encoding',
    });
    expect(zlib.gunzipSync(r.body).toString()).toBe(plain);
    expect(r.body.length).toBeLessThan(Buffer.byteLength(plain));
  });

  it('GIVEN no Accept-Encoding THEN the body is plain text', async () => {
    const r = await get(server.port, {});
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body.toString()).toContain('test_things_total 7');
  });

  it('GIVEN HEAD with gzip THEN headers say gzip and there is no body', async () => {
    const r = await get(server.port, { 'accept-encoding': 'gzip' }, 'HEAD');
    expect({ status: r.status, encoding: r.headers['content-encoding'], bytes: r.body.length }).toEqual({
      status: 200,
      encoding: 'gzip',
      bytes: 0,
    });
  });

  it('GIVEN more idle connections than maxConnections THEN the excess is closed at once and counted', async () => {
    // The earlier tests' connections (Connection: close) may still be closing on the server side.
    for (let i = 0; i < 200 && server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 25));
    const sockets = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<{ socket: net.Socket; closed: Promise<void> }>((resolve) => {
            const socket = net.connect(server.port, '127.0.0.1');
            socket.on('error', () => undefined);
            const closed = new Promise<void>((c) =>
              socket.once('close', () => {
                c();
              }),
            );
            socket.once('connect', () => {
              resolve({ socket, closed });
            });
          }),
      ),
    );
    try {
      // Six of ten must be closed by the server; the bounded wait ends as soon as they are.
      const closedNow = new Set<number>();
      sockets.forEach((s, i) => void s.closed.then(() => closedNow.add(i)));
      for (let i = 0; i < 200 && closedNow.size < 6; i++) await new Promise((r) => setTimeout(r, 25));
      expect({
        closed: closedNow.size,
        open: server.openConnections,
        rejected: server.rejectedConnections,
      }).toEqual({
        closed: 6,
        open: 4,
        rejected: 6,
      });
    } finally {
      for (const { socket } of sockets) socket.destroy();
    }
  });
});

describe('acceptsGzip', () => {
  it.each([
    [undefined, false],
    ['gzip', true],
    ['deflate, gzip;q=1.0, *;q=0.5', true],
    ['GZIP', true],
    ['x-gzip', true],
    ['identity', false],
    ['gzip;q=0', false],
    ['gzip;q=0.000', false],
    ['*', true],
    ['*;q=0.1, gzip;q=0', false],
    ['br, deflate', false],
  ])('GIVEN Accept-Encoding %p THEN gzip is %p', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
