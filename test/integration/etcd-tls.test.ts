import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { GetInfoResponse__Output } from '../../src/generated/snowflake/v1/GetInfoResponse';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import {
  CLIENT_EXTENSIONS,
  createTestPki,
  OPENSSL,
  SERVER_EXTENSIONS,
  type TestPki,
} from '../helpers/certificates';
import { idGeneratorClient, unaryOk } from '../helpers/grpc-client';
import { retriedOtherThanReset, startEtcd, type EtcdServer } from '../helpers/etcd';
import { MAIN_JS, runNode, startServiceProcess, type ServiceProcess } from '../helpers/process';

// SNOWFLAKE_ETCD_CA_FILE / _CERT_FILE / _KEY_FILE against a real etcd that serves https and requires
// client certificates (--client-cert-auth). The CAs and certificates are made afresh with openssl.

const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
const PREFIX = '/tls/';
const DATACENTER_ID = 3;
const WORKER_PREFIX = `${PREFIX}dc/${DATACENTER_ID}/worker/`;

/** Certificates and state dirs; removed in afterAll. */
let pki: TestPki;
let etcd: EtcdServer;

const file = (name: string): string => pki.file(name);

/** etcdctl over https with the good CA and client certificate; the non-empty output lines. */
function etcdctl(...args: string[]): string[] {
  const tlsArgs = [
    `--cacert=${file('ca.crt')}`,
    `--cert=${file('client.crt')}`,
    `--key=${file('client.key')}`,
  ];
  const r = spawnSync(ETCDCTL, [`--endpoints=${etcd.endpoint}`, ...tlsArgs, ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((line) => line !== '');
}

/** Service env for the etcd source over https with the given SNOWFLAKE_ETCD_*_FILE variables. */
function env(tlsFiles: Record<string, string>): Record<string, string> {
  return {
    SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
    SNOWFLAKE_ETCD_ENDPOINTS: etcd.endpoint,
    SNOWFLAKE_ETCD_PREFIX: PREFIX,
    SNOWFLAKE_ETCD_LEASE_TTL_S: '2',
    SNOWFLAKE_DATACENTER_ID: String(DATACENTER_ID),
    SNOWFLAKE_STATE_DIR: fs.mkdtempSync(path.join(pki.dir, 'state-')),
    ...tlsFiles,
  };
}

/** SIGTERM, then SIGKILL if it has not exited within 15 s; the exit code (or signal name). */
async function stop(proc: ServiceProcess): Promise<number | string> {
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

beforeAll(async () => {
  expect(fs.existsSync(OPENSSL)).toBe(true);
  expect(fs.existsSync(ETCDCTL)).toBe(true); // CI installs Debian's etcd-client
  pki = createTestPki('snowflake-etcd-tls-');
  pki.makeCa('ca');
  pki.makeCa('other-ca');
  // etcd's own gRPC gateway dials the client port presenting the server certificate: it needs clientAuth.
  pki.makeCert('server', 'ca', SERVER_EXTENSIONS);
  pki.makeCert('client', 'ca', CLIENT_EXTENSIONS);
  etcd = await startEtcd({
    tls: {
      caFile: file('ca.crt'),
      certFile: file('server.crt'),
      keyFile: file('server.key'),
      clientCertFile: file('client.crt'),
      clientKeyFile: file('client.key'),
    },
  });
  // Worker 0 is taken, so a served worker ID of 1 can only have come from etcd (0 is the static default).
  etcdctl('put', `${WORKER_PREFIX}0`, 'held-by-the-test');
}, 30_000);

afterAll(async () => {
  try {
    await etcd.dispose();
  } finally {
    pki.dispose();
  }
});

describe('etcd over TLS with client-certificate auth (real processes)', () => {
  it('GIVEN the CA and a client certificate THEN it claims a worker ID over https, serves it, and frees it on SIGTERM', async () => {
    expect(etcd.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const proc = await startServiceProcess(
      env({
        SNOWFLAKE_ETCD_CA_FILE: file('ca.crt'),
        SNOWFLAKE_ETCD_CERT_FILE: file('client.crt'),
        SNOWFLAKE_ETCD_KEY_FILE: file('client.key'),
      }),
      30_000,
    );
    let code: number | string;
    try {
      const client = idGeneratorClient(proc.grpcPort);
      let info: GetInfoResponse__Output;
      let id: bigint;
      try {
        info = await unaryOk<GetInfoResponse__Output>(client, 'GetInfo', {});
        id = BigInt((await unaryOk<NextIdResponse__Output>(client, 'NextId', {})).id);
      } finally {
        client.close();
      }
      expect([info.datacenter_id, info.worker_id]).toEqual([DATACENTER_ID, 1]);
      const field = (shift: number, bits: number) =>
        Number((id >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
      expect(field(info.sequence_bits, info.worker_bits)).toBe(1);
      expect(field(info.sequence_bits + info.worker_bits, info.datacenter_bits)).toBe(DATACENTER_ID);
      expect(etcdctl('get', '--prefix', WORKER_PREFIX)).toEqual([
        `${WORKER_PREFIX}0`,
        'held-by-the-test',
        `${WORKER_PREFIX}1`,
        `${os.hostname()}/${String(proc.child.pid)}`,
      ]);
    } finally {
      code = await stop(proc);
    }
    expect(code).toBe(0);
    // Revoking the lease on shutdown deleted the service's key; the test's own key is untouched.
    expect(etcdctl('get', '--prefix', '--keys-only', WORKER_PREFIX)).toEqual([`${WORKER_PREFIX}0`]);
  }, 60_000);
});

/** Longest a refused run may take before the test gives up on it (the boot retry window is 30 s). */
const REFUSAL_BOUND_MS = 40_000;

interface Refusal {
  readonly what: string;
  readonly files: () => Record<string, string>;
  /** What the service's error must say about the certificate problem. */
  readonly error: RegExp;
}

const REFUSALS: readonly Refusal[] = [
  {
    what: 'a CA that did not sign the etcd server certificate',
    files: () => ({
      SNOWFLAKE_ETCD_CA_FILE: file('other-ca.crt'),
      SNOWFLAKE_ETCD_CERT_FILE: file('client.crt'),
      SNOWFLAKE_ETCD_KEY_FILE: file('client.key'),
    }),
    error: /unable to verify the first certificate/,
  },
  {
    what: 'only the CA, no client certificate',
    files: () => ({ SNOWFLAKE_ETCD_CA_FILE: file('ca.crt') }),
    // etcd (Go) rejects the handshake with a TLS alert: "bad certificate", or "certificate required" in newer Go.
    error: /alert bad certificate|certificate required/,
  },
];

interface RefusedRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly elapsedMs: number;
}

describe('etcd over TLS refusing the certificates (real processes)', () => {
  // Both start together and each test awaits its own. A certificate failure is final: the service must
  // not sit through its 30 s boot retry window (etcd3 reports it as UNAVAILABLE, like an outage).
  const runs = new Map<Refusal, Promise<RefusedRun>>();

  beforeAll(() => {
    for (const refusal of REFUSALS) {
      const startedAt = performance.now();
      const vars = {
        ...env(refusal.files()),
        SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
        SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      };
      runs.set(
        refusal,
        runNode([MAIN_JS], vars, REFUSAL_BOUND_MS + 10_000).then((r) => ({
          code: r.code,
          stdout: r.stdout,
          elapsedMs: performance.now() - startedAt,
        })),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(runs.values());
  });

  it.each(REFUSALS)(
    'GIVEN $what THEN it exits 1 on the first certificate error, without retrying it, naming etcd and the certificate problem',
    async (refusal) => {
      const run = await runs.get(refusal);
      if (run === undefined) throw new Error(`no run started for ${refusal.what}`);
      const logs = run.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(run.code).toBe(1);
      expect(run.elapsedMs).toBeLessThan(REFUSAL_BOUND_MS);
      expect(retriedOtherThanReset(logs)).toEqual([]);
      expect(logs.some((l) => l.msg === 'serving')).toBe(false);
      const fatal = logs.find((l) => l.msg === 'failed to start');
      expect(fatal?.code).toBe('COORDINATION_FAILED');
      expect(fatal?.err).toContain(`failed at etcd ${etcd.endpoint}`);
      expect(fatal?.err).toMatch(refusal.error);
    },
    60_000,
  );
});
