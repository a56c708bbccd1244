import * as net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { CoordinationError } from '../../src/errors';
import { realTimers } from '../../src/timers';
import { claimEtcdWorkerId, etcdSource } from '../../src/worker-id/etcd';
import { MAIN_JS, runNode } from '../helpers/process';

const PASSWORD = 'hunter2-password';
const URL_SECRET = 'url-s3cret';

/** A loopback port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A pino logger at trace level whose lines are collected as text. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), lines };
}

describe('no secret in any output', () => {
  const secretEnv = {
    SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
    SNOWFLAKE_ETCD_ENDPOINTS: `http://snowflake:${URL_SECRET}@127.0.0.1:2379`,
    SNOWFLAKE_ETCD_USERNAME: 'snowflake',
    SNOWFLAKE_ETCD_PASSWORD: PASSWORD,
  };

  it.each<[string, string[], number]>([
    ['a config error (credentials in SNOWFLAKE_ETCD_ENDPOINTS)', [MAIN_JS], 1],
    ['--help', [MAIN_JS, '--help'], 0],
    ['usage after an unknown argument', [MAIN_JS, '--bogus'], 2],
  ])('GIVEN secrets in the environment THEN %s shows none of them', async (_name, args, code) => {
    const r = await runNode(args, secretEnv);
    expect(r.code).toBe(code);
    const output = r.stdout + r.stderr;
    expect(output).not.toContain(PASSWORD);
    expect(output).not.toContain(URL_SECRET);
    if (code === 1) {
      expect(r.stderr).toContain('SNOWFLAKE_ETCD_ENDPOINTS="http://<redacted>@127.0.0.1:2379"');
    }
  });

  it('GIVEN etcd unreachable at an endpoint with credentials THEN neither the claim error nor any log line shows them', async () => {
    const { logger, lines } = capturingLogger();
    const port = await deadPort();
    const err = await claimEtcdWorkerId({
      endpoints: [`http://snowflake:${URL_SECRET}@127.0.0.1:${port}`],
      auth: { username: 'snowflake', password: PASSWORD },
      datacenterId: 0,
      workerBits: 5,
      owner: 'secrets-test',
      callTimeoutMs: 500,
      claimTimeoutMs: 2000,
      logger,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CoordinationError);
    const message = (err as Error).message;
    expect(message).toContain(`http://<redacted>@127.0.0.1:${port}`);
    for (const text of [message, ...lines]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(URL_SECRET);
    }
  });

  it("GIVEN etcd unreachable THEN the boot claim's retry log lines show no credentials", async () => {
    const { logger, lines } = capturingLogger();
    const port = await deadPort();
    const { config } = loadConfig(
      { ...secretEnv, SNOWFLAKE_ETCD_ENDPOINTS: `http://127.0.0.1:${port}` },
      Date.now(),
    );
    if (config.workerId.source !== 'etcd') throw new Error('expected the etcd source');
    // A config can only be built without URL credentials; put them back as a library caller could.
    const endpoints = [`http://snowflake:${URL_SECRET}@127.0.0.1:${port}`];
    // Each reading moves 4 s on: the 30 s retry window ends after a few attempts.
    let nowMs = 0;
    const claim = etcdSource.create(
      { ...config.workerId, endpoints },
      { monotonicNowMs: () => (nowMs += 4000), timers: realTimers, logger },
    );
    await expect(claim.claim(undefined, 30_000)).rejects.toBeInstanceOf(CoordinationError);
    const retries = lines.filter((l) => l.includes('retrying'));
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toContain('<redacted>@127.0.0.1');
    for (const line of lines) {
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain(URL_SECRET);
    }
  });
});
