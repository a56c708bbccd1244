import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { GetInfoResponse__Output } from '../../src/generated/snowflake/v1/GetInfoResponse';
import { idGeneratorClient, unaryCall } from '../helpers/grpc-client';
import { startEtcd, type EtcdServer } from '../helpers/etcd';
import { MAIN_JS, runNode, startServiceProcess } from '../helpers/process';
import { tempStateDir } from '../helpers/temp-dir';

// SNOWFLAKE_ETCD_USERNAME / SNOWFLAKE_ETCD_PASSWORD against a real etcd with authentication enabled.

const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
let etcd: EtcdServer;

function etcdctl(...args: string[]): string {
  const r = spawnSync(ETCDCTL, [`--endpoints=${etcd.endpoint}`, ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function env(username: string, password: string, prefix: string): Record<string, string> {
  return {
    SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
    SNOWFLAKE_ETCD_ENDPOINTS: etcd.endpoint,
    SNOWFLAKE_ETCD_PREFIX: prefix,
    SNOWFLAKE_ETCD_LEASE_TTL_S: '2',
    SNOWFLAKE_ETCD_USERNAME: username,
    SNOWFLAKE_ETCD_PASSWORD: password,
  };
}

function runToExit(vars: Record<string, string>) {
  return runNode(
    [MAIN_JS],
    {
      ...vars,
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_STATE_DIR: tempStateDir(),
    },
    45_000,
  );
}

beforeAll(async () => {
  expect(fs.existsSync(ETCDCTL)).toBe(true); // CI installs Debian's etcd-client
  etcd = await startEtcd();
  etcdctl('user', 'add', 'root:rootpw');
  etcdctl('user', 'add', 'snowflake:s3cret');
  etcdctl('role', 'add', 'ids');
  etcdctl('role', 'grant-permission', 'ids', '--prefix=true', 'readwrite', '/ids/');
  etcdctl('user', 'grant-role', 'snowflake', 'ids');
  etcdctl('auth', 'enable');
}, 30_000);

afterAll(async () => {
  await etcd.dispose();
});

describe('etcd with password authentication (real processes)', () => {
  it('GIVEN the right user and password THEN it claims a worker ID under its permitted prefix and serves', async () => {
    const proc = await startServiceProcess(env('snowflake', 's3cret', '/ids/'), 30_000);
    try {
      const client = idGeneratorClient(proc.grpcPort);
      const r = await unaryCall<GetInfoResponse__Output>(client, 'GetInfo', {});
      client.close();
      expect(r.ok && r.value.worker_id).toBe(0);
      const keys = etcdctl('--user=root:rootpw', 'get', '--prefix', '--keys-only', '/ids/dc/0/worker/');
      expect(keys).toContain('/ids/dc/0/worker/0');
      // The password never reaches the logs.
      expect(JSON.stringify(proc.logs)).not.toContain('s3cret');
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  }, 60_000);

  it.each([
    ['a wrong password', 'wrong', '/ids/', /authentication failed/i],
    ['a prefix the user may not write', 's3cret', '/other/', /permission denied/i],
  ])(
    'GIVEN %s THEN it exits 1 naming the etcd error',
    async (_what, password, prefix, message) => {
      const run = await runToExit(env('snowflake', password, prefix));
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/COORDINATION_FAILED|claiming a worker ID failed/);
      expect(run.stdout).toMatch(message);
      expect(run.stdout).not.toContain('wrong"');
    },
    60_000,
  );
});
