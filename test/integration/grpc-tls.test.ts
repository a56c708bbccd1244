import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { checkHealth } from '../../packages/client/src/health-check';
import { createIdClient } from '../../packages/client/src/id-client';
import type { IdGeneratorClient } from '../../src/generated/snowflake/v1/IdGenerator';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import {
  CLIENT_EXTENSIONS,
  createTestPki,
  SERVER_EXTENSIONS,
  servedCertificate,
  type TestPki,
} from '../helpers/certificates';
import { FakeClock } from '../helpers/fake-clock';
import { idGeneratorClient, unaryCall, type CallResult } from '../helpers/grpc-client';
import { MAIN_JS, ROOT, runNode } from '../helpers/process';
import { startTestServer, type TestServer } from '../helpers/server';

// TLS and mutual TLS on the gRPC port (SNOWFLAKE_TLS_*), with real certificates made by openssl, real
// servers on 127.0.0.1:0 and real grpc-js clients. Rotation tests replace the files under a running
// server, in place and as a Kubernetes secret volume does (an atomic swap of the `..data` symlink).

const HEALTHCHECK_JS = path.join(ROOT, 'dist/healthcheck.js');
/** Reload interval of the rotation tests, in ms (the smallest allowed). */
const RELOAD_MS = 100;
/** Every client gets its own connection (no subchannel shared between clients) and names the server localhost. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.ssl_target_name_override': 'localhost',
  'grpc.use_local_subchannel_pool': 1,
};

let pki: TestPki;
const pem = (name: string): Buffer => fs.readFileSync(pki.file(name));
const serialOf = (name: string): string => pki.serialOf(name);
const notAfterSecondsOf = (name: string): number =>
  Date.parse(new X509Certificate(pem(`${name}.crt`)).validTo) / 1000;

beforeAll(() => {
  pki = createTestPki('snowflake-grpc-tls-');
  pki.makeCa('ca');
  pki.makeCa('other-ca');
  pki.makeCert('server', 'ca', SERVER_EXTENSIONS);
  // Valid for two days: its notAfter differs from server's, so the expiry gauge tells them apart.
  pki.makeCert('server2', 'ca', SERVER_EXTENSIONS, 2);
  pki.makeCert('server-other', 'other-ca', SERVER_EXTENSIONS, 2);
  pki.makeCert('server-only', 'ca', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth',
  ]);
  pki.makeCert('expired', 'ca', SERVER_EXTENSIONS, -1);
  pki.makeCert('client', 'ca', CLIENT_EXTENSIONS);
  pki.makeCert('client-other', 'other-ca', CLIENT_EXTENSIONS);
  fs.writeFileSync(pki.file('garbage.pem'), 'not a certificate\n');
}, 30_000);

afterAll(() => {
  pki.dispose();
});

/** TLS channel credentials trusting `ca`, presenting `client`'s certificate when given. */
function tlsCredentials(ca: string, client?: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    pem(`${ca}.crt`),
    client === undefined ? null : pem(`${client}.key`),
    client === undefined ? null : pem(`${client}.crt`),
  );
}

/** One NextId on `client` (10 s deadline). */
function nextId(client: IdGeneratorClient): Promise<CallResult<NextIdResponse__Output>> {
  return unaryCall<NextIdResponse__Output>(client, 'NextId', {}, { deadline: Date.now() + 10_000 });
}

/** One NextId on a new connection with `credentials`; the client is closed afterwards. */
async function nextIdOnce(
  port: number,
  credentials: grpc.ChannelCredentials,
): Promise<CallResult<NextIdResponse__Output>> {
  const client = idGeneratorClient(port, credentials, CHANNEL_OPTIONS);
  try {
    return await nextId(client);
  } finally {
    client.close();
  }
}

/** Expects a call that failed to connect: UNAVAILABLE, no ID. */
function expectRefusedConnection(r: CallResult<NextIdResponse__Output>): void {
  expect(r.ok ? { ok: true } : { ok: false, code: r.error.code }).toEqual({
    ok: false,
    code: grpc.status.UNAVAILABLE,
  });
}

/** Expects a call that returned an ID. */
function expectId(r: CallResult<NextIdResponse__Output>): void {
  expect(r.ok ? { ok: true, id: r.value.id } : { ok: false, error: r.error.message }).toEqual({
    ok: true,
    id: expect.stringMatching(/^[1-9]\d*$/) as unknown,
  });
}

/** Polls `check` every 50 ms until it returns true; fails naming `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The value of an unlabelled series on /metrics, or undefined when it is absent. */
async function metricValue(metricsPort: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/**
 * A pino logger at debug level whose lines the test can read; `onLine` sees each line synchronously,
 * while the server is still in the call that logged it.
 */
function capturedLogger(onLine: (line: Record<string, unknown>) => void = () => undefined): {
  logger: pino.Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(text: string) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        onLine(line);
      },
    },
  );
  return { logger, lines };
}

/** A directory holding `tls.crt`/`tls.key` copied from `cert` (and `ca.crt` from `ca`), plus the server env for it. */
function tlsDir(cert: string, ca?: string): { dir: string; env: Record<string, string> } {
  const dir = fs.mkdtempSync(path.join(pki.dir, 'files-'));
  fs.copyFileSync(pki.file(`${cert}.crt`), path.join(dir, 'tls.crt'));
  fs.copyFileSync(pki.file(`${cert}.key`), path.join(dir, 'tls.key'));
  if (ca !== undefined) fs.copyFileSync(pki.file(`${ca}.crt`), path.join(dir, 'ca.crt'));
  return {
    dir,
    env: {
      SNOWFLAKE_TLS_CERT_FILE: path.join(dir, 'tls.crt'),
      SNOWFLAKE_TLS_KEY_FILE: path.join(dir, 'tls.key'),
      ...(ca !== undefined && { SNOWFLAKE_TLS_CLIENT_CA_FILE: path.join(dir, 'ca.crt') }),
    },
  };
}

describe('TLS on the gRPC port (SNOWFLAKE_TLS_CERT_FILE, SNOWFLAKE_TLS_KEY_FILE)', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
    });
    port = server.server.grpcPort;
  });

  afterAll(async () => {
    await server.close();
  });

  it('GIVEN a client trusting the CA THEN it gets IDs, and the port presents the configured certificate over ALPN h2', async () => {
    expectId(await nextIdOnce(port, tlsCredentials('ca')));
    const peer = await servedCertificate(port);
    expect(peer.serialNumber).toBe(serialOf('server'));
  });

  it('GIVEN a plaintext client THEN it cannot connect (while a TLS client can)', async () => {
    expectRefusedConnection(await nextIdOnce(port, grpc.credentials.createInsecure()));
    expectId(await nextIdOnce(port, tlsCredentials('ca')));
  });

  it('GIVEN a client trusting another CA THEN it refuses the server certificate (while one trusting the CA accepts it)', async () => {
    expectRefusedConnection(await nextIdOnce(port, tlsCredentials('other-ca')));
    expectId(await nextIdOnce(port, tlsCredentials('ca')));
  });

  it('GIVEN the client library with channel credentials (createIdClient, checkHealth) THEN both work over TLS', async () => {
    const credentials = tlsCredentials('ca');
    const ids = createIdClient({
      addresses: [`127.0.0.1:${port}`],
      credentials,
      channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
      prefetch: { maxAgeMs: 0 },
    });
    try {
      expect(await ids.nextId()).toBeGreaterThan(0n);
    } finally {
      await ids.close();
    }
    expect(await checkHealth(`localhost:${port}`, { credentials })).toBe('SERVING');
  });

  it('exports the certificate expiry and no reload failures, in a /metrics page promtool accepts', async () => {
    const metricsPort = server.server.metricsPort;
    const page = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: page, encoding: 'utf8' });
    expect({ status: promtool.status, out: promtool.stdout + promtool.stderr }).toEqual({
      status: 0,
      out: '',
    });
    expect(await metricValue(metricsPort, 'snowflake_tls_certificate_expiry_timestamp_seconds')).toBe(
      notAfterSecondsOf('server'),
    );
    expect(await metricValue(metricsPort, 'snowflake_tls_reload_failures_total')).toBe(0);
  });
});

describe('mutual TLS (SNOWFLAKE_TLS_CLIENT_CA_FILE)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
      SNOWFLAKE_TLS_CLIENT_CA_FILE: pki.file('ca.crt'),
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('GIVEN a client certificate signed by the client CA THEN the client gets IDs', async () => {
    expectId(await nextIdOnce(server.server.grpcPort, tlsCredentials('ca', 'client')));
  });

  it.each([
    ['no client certificate', () => tlsCredentials('ca')],
    ['a client certificate signed by another CA', () => tlsCredentials('ca', 'client-other')],
    ['a plaintext connection', () => grpc.credentials.createInsecure()],
  ])(
    'GIVEN %s THEN the connection is refused (while one with a certificate is not)',
    async (_what, credentials) => {
      expectRefusedConnection(await nextIdOnce(server.server.grpcPort, credentials()));
      expectId(await nextIdOnce(server.server.grpcPort, tlsCredentials('ca', 'client')));
    },
  );
});

describe('certificate rotation (files re-read every SNOWFLAKE_TLS_RELOAD_INTERVAL_MS)', () => {
  it('GIVEN new files written in place THEN new connections get the new certificate, an established connection keeps working, and nothing counts as a failure', async () => {
    const { dir, env } = tlsDir('server');
    const { logger, lines } = capturedLogger();
    const server = await startTestServer(
      { ...env, SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: String(RELOAD_MS) },
      { logger },
    );
    const port = server.server.grpcPort;
    const { metricsPort } = server.server;
    const established = idGeneratorClient(port, tlsCredentials('ca'), CHANNEL_OPTIONS);
    try {
      expectId(await nextId(established));
      expect((await servedCertificate(port)).serialNumber).toBe(serialOf('server'));

      // A certificate from another CA: a client trusting only the old CA could not open a new connection.
      fs.writeFileSync(path.join(dir, 'tls.crt'), pem('server-other.crt'));
      fs.writeFileSync(path.join(dir, 'tls.key'), pem('server-other.key'));
      await waitFor(
        'the new certificate on a new connection',
        async () => (await servedCertificate(port)).serialNumber === serialOf('server-other'),
      );

      expectId(await nextId(established));
      expectRefusedConnection(await nextIdOnce(port, tlsCredentials('ca')));
      expectId(await nextIdOnce(port, tlsCredentials('other-ca')));
      expect(await metricValue(metricsPort, 'snowflake_tls_certificate_expiry_timestamp_seconds')).toBe(
        notAfterSecondsOf('server-other'),
      );
      expect(await metricValue(metricsPort, 'snowflake_tls_reload_failures_total')).toBe(0);
      expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
      expect(
        lines.find((l) => l.msg === 'TLS files changed: new connections get the new certificate'),
      ).toMatchObject({ serialNumber: serialOf('server-other'), certFile: env.SNOWFLAKE_TLS_CERT_FILE });
    } finally {
      established.close();
      await server.close();
    }
  }, 60_000);

  it('GIVEN a rotation read between the new certificate and its key THEN the next read serves the pair and nothing counts as a failure', async () => {
    const { dir, env } = tlsDir('server');
    // The key is written from inside the server's first read of the half-done rotation (its debug
    // line), so exactly one read sees the new certificate with the old key.
    let halfDoneReads = 0;
    const { logger, lines } = capturedLogger((line) => {
      if (line.msg !== 'TLS files changed but cannot be used yet; reading them again') return;
      halfDoneReads += 1;
      fs.writeFileSync(path.join(dir, 'tls.key'), pem('server2.key'));
    });
    const server = await startTestServer(
      { ...env, SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: String(RELOAD_MS) },
      { logger },
    );
    const port = server.server.grpcPort;
    try {
      fs.writeFileSync(path.join(dir, 'tls.crt'), pem('server2.crt'));
      await waitFor(
        'the new certificate on a new connection',
        async () => (await servedCertificate(port)).serialNumber === serialOf('server2'),
      );
      expect(halfDoneReads).toBe(1);
      expect(await metricValue(server.server.metricsPort, 'snowflake_tls_reload_failures_total')).toBe(0);
      expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('GIVEN a Kubernetes secret volume whose ..data symlink is swapped THEN new connections get the new certificate (mutual TLS)', async () => {
    // The kubelet's layout: files in a timestamped directory, `..data` → that directory, and each
    // visible name a symlink through `..data`. An update writes a new directory and renames a new
    // `..data` symlink over the old one, so every file changes at once and no file is rewritten.
    const dir = fs.mkdtempSync(path.join(pki.dir, 'secret-'));
    const writeVersion = (version: string, cert: string) => {
      fs.mkdirSync(path.join(dir, version));
      fs.copyFileSync(pki.file(`${cert}.crt`), path.join(dir, version, 'tls.crt'));
      fs.copyFileSync(pki.file(`${cert}.key`), path.join(dir, version, 'tls.key'));
      fs.copyFileSync(pki.file('ca.crt'), path.join(dir, version, 'ca.crt'));
    };
    writeVersion('..2026_01_01_00_00_00.1', 'server');
    fs.symlinkSync('..2026_01_01_00_00_00.1', path.join(dir, '..data'));
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) {
      fs.symlinkSync(path.join('..data', name), path.join(dir, name));
    }
    const server = await startTestServer({
      SNOWFLAKE_TLS_CERT_FILE: path.join(dir, 'tls.crt'),
      SNOWFLAKE_TLS_KEY_FILE: path.join(dir, 'tls.key'),
      SNOWFLAKE_TLS_CLIENT_CA_FILE: path.join(dir, 'ca.crt'),
      SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: String(RELOAD_MS),
    });
    const port = server.server.grpcPort;
    const client = { cert: pem('client.crt'), key: pem('client.key') };
    try {
      expect((await servedCertificate(port, client)).serialNumber).toBe(serialOf('server'));

      writeVersion('..2026_02_01_00_00_00.2', 'server2');
      fs.symlinkSync('..2026_02_01_00_00_00.2', path.join(dir, '..data_tmp'));
      fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      fs.rmSync(path.join(dir, '..2026_01_01_00_00_00.1'), { recursive: true });

      await waitFor(
        'the new certificate on a new connection',
        async () => (await servedCertificate(port, client)).serialNumber === serialOf('server2'),
      );
      expectId(await nextIdOnce(port, tlsCredentials('ca', 'client')));
      expectRefusedConnection(await nextIdOnce(port, tlsCredentials('ca')));
      expect(
        await metricValue(server.server.metricsPort, 'snowflake_tls_certificate_expiry_timestamp_seconds'),
      ).toBe(notAfterSecondsOf('server2'));
    } finally {
      await server.close();
    }
  }, 60_000);

  interface BadRotation {
    readonly what: string;
    /** Breaks the files in `dir` (tls.crt and tls.key of the certificate "server"). */
    readonly apply: (dir: string) => void;
    /** What the error log must say. */
    readonly error: RegExp;
  }

  const BAD_ROTATIONS: readonly BadRotation[] = [
    {
      what: 'a new certificate without its key (key file unchanged)',
      apply: (dir) => {
        fs.writeFileSync(path.join(dir, 'tls.crt'), pem('server2.crt'));
      },
      error:
        /^SNOWFLAKE_TLS_KEY_FILE=\S+tls\.key: does not match the certificate in SNOWFLAKE_TLS_CERT_FILE=\S+tls\.crt/,
    },
    {
      what: 'a removed key file',
      apply: (dir) => {
        fs.rmSync(path.join(dir, 'tls.key'));
      },
      error: /^SNOWFLAKE_TLS_KEY_FILE=\S+tls\.key: cannot be read \(ENOENT/,
    },
    {
      what: 'a certificate file that is not PEM',
      apply: (dir) => {
        fs.writeFileSync(path.join(dir, 'tls.crt'), pem('garbage.pem'));
      },
      error: /^SNOWFLAKE_TLS_CERT_FILE=\S+tls\.crt: holds no PEM certificate/,
    },
    {
      what: 'an expired certificate with its key',
      apply: (dir) => {
        fs.writeFileSync(path.join(dir, 'tls.crt'), pem('expired.crt'));
        fs.writeFileSync(path.join(dir, 'tls.key'), pem('expired.key'));
      },
      error: /^SNOWFLAKE_TLS_CERT_FILE=\S+tls\.crt: certificate CN=expired \(serial \w+\) expired at /,
    },
  ];

  it.each(BAD_ROTATIONS)(
    'GIVEN a rotation to $what THEN the previous certificate stays served, and the failure is logged once and counted',
    async ({ apply, error }) => {
      const { dir, env } = tlsDir('server');
      const { logger, lines } = capturedLogger();
      const server = await startTestServer(
        { ...env, SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: String(RELOAD_MS) },
        { logger },
      );
      const port = server.server.grpcPort;
      const { metricsPort } = server.server;
      try {
        apply(dir);
        await waitFor(
          'snowflake_tls_reload_failures_total to reach 1',
          async () => (await metricValue(metricsPort, 'snowflake_tls_reload_failures_total')) === 1,
        );
        // Ten more reads of the same broken files: still one failure, one error line.
        await new Promise((resolve) => setTimeout(resolve, 10 * RELOAD_MS));
        expect(await metricValue(metricsPort, 'snowflake_tls_reload_failures_total')).toBe(1);
        const errors = lines.filter((l) => (l.level as number) >= 50);
        expect(errors).toEqual([
          expect.objectContaining({
            msg: 'TLS files changed but cannot be used; still serving the previous certificate',
            err: expect.stringMatching(error) as unknown,
            serialNumber: serialOf('server'),
          }),
        ]);
        expect((await servedCertificate(port)).serialNumber).toBe(serialOf('server'));
        expectId(await nextIdOnce(port, tlsCredentials('ca')));
        expect(await metricValue(metricsPort, 'snowflake_tls_certificate_expiry_timestamp_seconds')).toBe(
          notAfterSecondsOf('server'),
        );
      } finally {
        await server.close();
      }
    },
    60_000,
  );
});

describe('bad TLS files at boot (dist/main.js)', () => {
  interface BadBoot {
    readonly what: string;
    readonly env: () => Record<string, string>;
    /** The variable the message must name, and the file. */
    readonly variable: string;
    readonly file: () => string;
    readonly problem: RegExp;
  }

  const good = () => ({
    SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
    SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
  });
  const BAD_BOOTS: readonly BadBoot[] = [
    {
      what: 'a certificate file that does not exist',
      env: () => ({ ...good(), SNOWFLAKE_TLS_CERT_FILE: pki.file('missing.crt') }),
      variable: 'SNOWFLAKE_TLS_CERT_FILE',
      file: () => pki.file('missing.crt'),
      problem: /cannot be read \(ENOENT/,
    },
    {
      what: 'a certificate file that is not PEM',
      env: () => ({ ...good(), SNOWFLAKE_TLS_CERT_FILE: pki.file('garbage.pem') }),
      variable: 'SNOWFLAKE_TLS_CERT_FILE',
      file: () => pki.file('garbage.pem'),
      problem: /holds no PEM certificate/,
    },
    {
      what: 'a key file holding a certificate',
      env: () => ({ ...good(), SNOWFLAKE_TLS_KEY_FILE: pki.file('ca.crt') }),
      variable: 'SNOWFLAKE_TLS_KEY_FILE',
      file: () => pki.file('ca.crt'),
      problem: /is not an unencrypted PEM private key/,
    },
    {
      what: 'the key of another certificate',
      env: () => ({ ...good(), SNOWFLAKE_TLS_KEY_FILE: pki.file('client.key') }),
      variable: 'SNOWFLAKE_TLS_KEY_FILE',
      file: () => pki.file('client.key'),
      problem: /does not match the certificate in SNOWFLAKE_TLS_CERT_FILE=/,
    },
    {
      what: 'an expired certificate',
      env: () => ({
        SNOWFLAKE_TLS_CERT_FILE: pki.file('expired.crt'),
        SNOWFLAKE_TLS_KEY_FILE: pki.file('expired.key'),
      }),
      variable: 'SNOWFLAKE_TLS_CERT_FILE',
      file: () => pki.file('expired.crt'),
      problem: /expired at/,
    },
    {
      what: 'a client CA file that is not PEM',
      env: () => ({ ...good(), SNOWFLAKE_TLS_CLIENT_CA_FILE: pki.file('garbage.pem') }),
      variable: 'SNOWFLAKE_TLS_CLIENT_CA_FILE',
      file: () => pki.file('garbage.pem'),
      problem: /holds no PEM certificate/,
    },
  ];

  it.each(BAD_BOOTS)(
    'GIVEN $what THEN it exits 1 naming the variable and the file, before listening',
    async ({ env, variable, file, problem }) => {
      const r = await runNode(
        [MAIN_JS],
        {
          SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
          SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
          SNOWFLAKE_STATE_DIR: fs.mkdtempSync(path.join(pki.dir, 'state-')),
          ...env(),
        },
        20_000,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`failed to start: INVALID_CONFIG: ${variable}=${file()}: `);
      expect(r.stderr).toMatch(problem);
      expect(r.stdout).not.toContain('snowflake service started');
    },
    30_000,
  );
});

describe('the container health check (dist/healthcheck.js) over TLS', () => {
  /** Runs the health check against `port` with the server's TLS variables plus `env`; its exit code. */
  async function healthcheck(
    port: number,
    env: Record<string, string>,
    args: readonly string[] = [],
  ): Promise<number | null> {
    const r = await runNode(
      [HEALTHCHECK_JS, ...args],
      { SNOWFLAKE_HEALTHCHECK_ADDR: `127.0.0.1:${port}`, ...env },
      20_000,
    );
    return r.code;
  }

  it('GIVEN TLS THEN it passes with the server variables and fails in plaintext', async () => {
    const env = {
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
    };
    const server = await startTestServer(env);
    try {
      expect(await healthcheck(server.server.grpcPort, env)).toBe(0);
      expect(await healthcheck(server.server.grpcPort, {})).toBe(1);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('GIVEN SNOWFLAKE_HEALTHCHECK_CA_FILE THEN it verifies the server certificate with it, by SNOWFLAKE_HEALTHCHECK_SERVER_NAME', async () => {
    const env = {
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
    };
    const server = await startTestServer(env);
    const port = server.server.grpcPort;
    try {
      expect(await healthcheck(port, { ...env, SNOWFLAKE_HEALTHCHECK_CA_FILE: pki.file('ca.crt') })).toBe(0);
      // Another CA did not sign the server's certificate: refused, where the unverified probe passes.
      expect(
        await healthcheck(port, { ...env, SNOWFLAKE_HEALTHCHECK_CA_FILE: pki.file('other-ca.crt') }),
      ).toBe(1);
      // The certificate names localhost and 127.0.0.1, not this name.
      expect(
        await healthcheck(port, {
          ...env,
          SNOWFLAKE_HEALTHCHECK_CA_FILE: pki.file('ca.crt'),
          SNOWFLAKE_HEALTHCHECK_SERVER_NAME: 'snowflake.example',
        }),
      ).toBe(1);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('GIVEN mutual TLS and a server certificate that allows client auth THEN it presents that certificate and passes', async () => {
    const tls = {
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
    };
    const env = { ...tls, SNOWFLAKE_TLS_CLIENT_CA_FILE: pki.file('ca.crt') };
    const server = await startTestServer(env);
    try {
      expect(await healthcheck(server.server.grpcPort, env)).toBe(0);
      // Told only of TLS, it presents no client certificate: refused.
      expect(await healthcheck(server.server.grpcPort, tls)).toBe(1);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('GIVEN mutual TLS and a server-auth-only certificate THEN it needs SNOWFLAKE_HEALTHCHECK_CERT_FILE from the client CA', async () => {
    const env = {
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server-only.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server-only.key'),
      SNOWFLAKE_TLS_CLIENT_CA_FILE: pki.file('ca.crt'),
    };
    const server = await startTestServer(env);
    const port = server.server.grpcPort;
    const probeCert = (name: string) => ({
      SNOWFLAKE_HEALTHCHECK_CERT_FILE: pki.file(`${name}.crt`),
      SNOWFLAKE_HEALTHCHECK_KEY_FILE: pki.file(`${name}.key`),
    });
    try {
      expect(await healthcheck(port, env)).toBe(1);
      expect(await healthcheck(port, { ...env, ...probeCert('client') })).toBe(0);
      expect(await healthcheck(port, { ...env, ...probeCert('client-other') })).toBe(1);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('GIVEN a server that refuses IDs THEN the readiness check fails while the liveness check passes', async () => {
    const env = {
      SNOWFLAKE_TLS_CERT_FILE: pki.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: pki.file('server.key'),
      SNOWFLAKE_MAX_CLOCK_SKEW_MS: '1000',
    };
    const wall = new FakeClock(Date.now());
    const mono = new FakeClock(0);
    const server = await startTestServer(env, {
      clockSources: { wallMs: () => wall.nowMs(), monotonicMs: () => mono.nowMs() },
    });
    const port = server.server.grpcPort;
    try {
      expect(await healthcheck(port, env, ['liveness'])).toBe(0);
      expect(await healthcheck(port, env, ['snowflake.v1.IdGenerator'])).toBe(0);
      expectId(await nextIdOnce(port, tlsCredentials('ca')));
      // The wall clock 5 s behind the time base, beyond the bound: the next call is refused.
      wall.advance(-5000);
      const r = await nextIdOnce(port, tlsCredentials('ca'));
      expect(r.ok ? 'ok' : r.error.code).toBe(grpc.status.UNAVAILABLE);
      expect(await healthcheck(port, env)).toBe(1);
      expect(await healthcheck(port, env, ['snowflake.v1.IdGenerator'])).toBe(1);
      expect(await healthcheck(port, env, ['liveness'])).toBe(0);
      expect(await healthcheck(port, env, ['liveness', 'extra'])).toBe(2);
    } finally {
      await server.close();
    }
  }, 60_000);
});
