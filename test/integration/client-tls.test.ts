import * as fs from 'node:fs';
import { IdClientError } from '../../packages/client/src/errors';
import { createIdClient, type IdClient } from '../../packages/client/src/id-client';
import type { IdClientOptions } from '../../packages/client/src/options';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { CLIENT_EXTENSIONS, createTestPki, SERVER_EXTENSIONS, type TestPki } from '../helpers/certificates';
import { startTestServer, type TestServer } from '../helpers/server';

// The client's `tls` option against the real server with TLS (SNOWFLAKE_TLS_CERT_FILE/_KEY_FILE) and
// mutual TLS (SNOWFLAKE_TLS_CLIENT_CA_FILE), with certificates made by openssl.

const codec = new IdCodec(DEFAULT_LAYOUT);
let pki: TestPki;
const pem = (name: string) => fs.readFileSync(pki.file(name));
const clients: IdClient[] = [];

beforeAll(() => {
  pki = createTestPki('snowflake-client-tls-');
  pki.makeCa('ca');
  pki.makeCa('other-ca');
  pki.makeCert('server', 'ca', SERVER_EXTENSIONS);
  // Names neither 127.0.0.1 nor localhost: only a client told the name (serverName) accepts it.
  pki.makeCert('server-named', 'ca', ['subjectAltName=DNS:ids.internal', 'extendedKeyUsage=serverAuth']);
  pki.makeCert('client', 'ca', CLIENT_EXTENSIONS);
  pki.makeCert('client-other', 'other-ca', CLIENT_EXTENSIONS);
}, 30_000);

afterAll(() => {
  pki.dispose();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A client without the ID buffer and with two quick attempts (a refused handshake is not worth more). */
function client(options: IdClientOptions): IdClient {
  const c = createIdClient({
    prefetch: { maxAgeMs: 0 },
    retry: { maxAttempts: 2 },
    timeoutMs: 10_000,
    ...options,
  });
  clients.push(c);
  return c;
}

/** IDs of one NextId and one BatchIds call from `c`, checked to come from worker `workerId`. */
async function expectIds(c: IdClient, workerId: number): Promise<void> {
  const ids = [await c.nextId(), ...(await c.batch(3))];
  expect(new Set(ids).size).toBe(4);
  expect(ids.map((id) => codec.decode(id).workerId)).toEqual([workerId, workerId, workerId, workerId]);
}

/** The code of `c.nextId()`'s rejection (it must reject). */
async function refusedWith(c: IdClient): Promise<string> {
  try {
    await c.nextId();
  } catch (err) {
    if (err instanceof IdClientError) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('createIdClient({ tls }) against a TLS server', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({
      SNOWFLAKE_WORKER_ID: '4',
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
    });
    port = server.server.grpcPort;
  });

  afterAll(async () => {
    await server.close();
  });

  it.each<[string, () => IdClientOptions['tls']]>([
    ['the CA as a file path', () => ({ ca: pki.file('ca.crt') })],
    ['the CA as a Buffer', () => ({ ca: pem('ca.crt') })],
    ['the CA as PEM text', () => ({ ca: pem('ca.crt').toString() })],
  ])('GIVEN %s THEN it gets IDs over TLS', async (_name, tls) => {
    await expectIds(client({ addresses: [`127.0.0.1:${port}`], tls: tls() }), 4);
  });

  it('GIVEN a dns:/// target THEN the certificate is checked against the resolved name, and IDs flow', async () => {
    await expectIds(client({ addresses: [`dns:///localhost:${port}`], tls: { ca: pki.file('ca.crt') } }), 4);
  });

  it('GIVEN a CA that did not sign the server THEN every attempt is refused (while the right CA works)', async () => {
    const refused = await refusedWith(
      client({ addresses: [`127.0.0.1:${port}`], tls: { ca: pki.file('other-ca.crt') } }),
    );
    expect(refused).toMatch(/^ALL_SERVERS_UNAVAILABLE: .*unable to verify the first certificate/);
    await expectIds(client({ addresses: [`127.0.0.1:${port}`], tls: { ca: pki.file('ca.crt') } }), 4);
  });

  it('GIVEN no tls THEN a plaintext client cannot connect', async () => {
    expect(await refusedWith(client({ addresses: [`127.0.0.1:${port}`] }))).toMatch(
      /^ALL_SERVERS_UNAVAILABLE: /,
    );
  });
});

describe('createIdClient({ tls }) against a server that requires client certificates (mutual TLS)', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({
      SNOWFLAKE_WORKER_ID: '5',
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
      SNOWFLAKE_TLS_CLIENT_CA_FILE: pki.file('ca.crt'),
    });
    port = server.server.grpcPort;
  });

  afterAll(async () => {
    await server.close();
  });

  it.each<[string, () => IdClientOptions['tls']]>([
    ['files', () => ({ ca: pki.file('ca.crt'), cert: pki.file('client.crt'), key: pki.file('client.key') })],
    ['Buffers', () => ({ ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') })],
  ])('GIVEN a client certificate the CA signed, as %s, THEN it gets IDs', async (_name, tls) => {
    await expectIds(client({ addresses: [`127.0.0.1:${port}`], tls: tls() }), 5);
  });

  it.each<[string, () => IdClientOptions['tls']]>([
    ['no client certificate', () => ({ ca: pki.file('ca.crt') })],
    [
      'a client certificate another CA signed',
      () => ({
        ca: pki.file('ca.crt'),
        cert: pki.file('client-other.crt'),
        key: pki.file('client-other.key'),
      }),
    ],
  ])('GIVEN %s THEN the server refuses the handshake', async (_name, tls) => {
    expect(await refusedWith(client({ addresses: [`127.0.0.1:${port}`], tls: tls() }))).toMatch(
      /^ALL_SERVERS_UNAVAILABLE: /,
    );
  });
});

describe('tls.serverName', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({
      SNOWFLAKE_WORKER_ID: '6',
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server-named.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server-named.key'),
    });
    port = server.server.grpcPort;
  });

  afterAll(async () => {
    await server.close();
  });

  it('GIVEN a certificate for another name than the dialled address THEN serverName makes it acceptable', async () => {
    const addresses = [`ipv4:127.0.0.1:${port}`];
    expect(await refusedWith(client({ addresses, tls: { ca: pki.file('ca.crt') } }))).toMatch(
      /^ALL_SERVERS_UNAVAILABLE: .*ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    await expectIds(client({ addresses, tls: { ca: pki.file('ca.crt'), serverName: 'ids.internal' } }), 6);
  });
});
