import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BatchIdsResponse__Output } from '../../src/generated/snowflake/v1/BatchIdsResponse';
import * as grpc from '@grpc/grpc-js';
import { healthCheck, idGeneratorClient, unaryCall } from '../helpers/grpc-client';
import { MAIN_JS, runNode, startServiceProcess } from '../helpers/process';
import { tempStateDir } from '../helpers/server';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

describe('durability across restarts (real processes)', () => {
  it('GIVEN kill -9 during load and a restart on a clock set back 30 s (libfaketime) THEN every new ID is greater than every old one', async () => {
    expect(fs.existsSync(LIBFAKETIME)).toBe(true); // CI installs Debian's faketime
    const stateDir = tempStateDir();
    const first = await startServiceProcess({ SNOWFLAKE_STATE_DIR: stateDir });
    const client = idGeneratorClient(first.grpcPort);
    let maxOld = 0n;
    const load = (async () => {
      for (let i = 0; i < 10_000; i++) {
        const r = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 1000 });
        if (!r.ok) return;
        for (const id of r.value.ids) if (BigInt(id) > maxOld) maxOld = BigInt(id);
      }
    })();
    await new Promise((r) => setTimeout(r, 700));
    first.child.kill('SIGKILL');
    await first.exited;
    await load;
    client.close();
    expect(maxOld > 0n).toBe(true);

    const second = await startServiceProcess(
      {
        SNOWFLAKE_STATE_DIR: stateDir,
        LD_PRELOAD: LIBFAKETIME,
        FAKETIME: '-30s',
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
      },
      60_000,
    );
    try {
      expect(second.logs.map((l) => l.msg)).toContain(
        'clock is behind the persisted reservation: waiting before serving (NOT_SERVING)',
      );
      const c2 = idGeneratorClient(second.grpcPort);
      const r = await unaryCall<BatchIdsResponse__Output>(c2, 'BatchIds', { count: 5000 });
      c2.close();
      expect(r.ok).toBe(true);
      const ids = r.ok ? r.value.ids.map(BigInt) : [];
      expect(ids.every((id) => id > maxOld)).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('GIVEN the wall clock steps back 30 s while running (libfaketime offset file) THEN no smaller or duplicate ID is issued, it refuses, and it recovers when the clock is set right', async () => {
    const stateDir = tempStateDir();
    const offsetFile = path.join(stateDir, 'faketime-offset');
    fs.writeFileSync(offsetFile, '+0\n');
    const svc = await startServiceProcess({
      SNOWFLAKE_STATE_DIR: path.join(stateDir, 'state'),
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    const client = idGeneratorClient(svc.grpcPort);
    const seen = new Set<string>();
    let max = 0n;
    const batch = async () => {
      const r = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 2000 });
      if (!r.ok) return r.error.code;
      const ids = r.value.ids.map(BigInt);
      expect(ids[0]! > max).toBe(true);
      for (const id of r.value.ids) seen.add(id);
      max = ids.at(-1)!;
      return grpc.status.OK;
    };
    try {
      for (let i = 0; i < 5; i++) expect(await batch()).toBe(grpc.status.OK);
      fs.writeFileSync(offsetFile, '-30s\n');
      expect(await batch()).toBe(grpc.status.UNAVAILABLE);
      expect(await healthCheck(svc.grpcPort, 'snowflake.v1.IdGenerator')).toBe('NOT_SERVING');
      fs.writeFileSync(offsetFile, '+0\n');
      let code: grpc.status = grpc.status.UNAVAILABLE;
      for (let i = 0; i < 50 && code !== grpc.status.OK; i++) {
        await new Promise((r) => setTimeout(r, 100));
        code = await batch();
      }
      expect(code).toBe(grpc.status.OK);
      expect(seen.size).toBe(6 * 2000);
      expect(svc.logs.some((l) => l.action === 'refusing')).toBe(true);
    } finally {
      client.close();
      svc.child.kill('SIGTERM');
      await svc.exited;
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('GIVEN a restart beyond SNOWFLAKE_MAX_STARTUP_WAIT_MS behind the reservation THEN it refuses to start', async () => {
    const stateDir = tempStateDir();
    const first = await startServiceProcess({ SNOWFLAKE_STATE_DIR: stateDir });
    first.child.kill('SIGKILL');
    await first.exited;
    const r = await runNode([MAIN_JS], {
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_STATE_DIR: stateDir,
      SNOWFLAKE_MAX_STARTUP_WAIT_MS: '1000',
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME: '-30s',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    fs.rmSync(stateDir, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /behind the timestamp reservation in .*snowflake-state\.json.*refusing to start/,
    );
  });

  it('GIVEN a corrupt state file THEN it exits 1 naming the file', async () => {
    const stateDir = tempStateDir();
    const file = path.join(stateDir, 'snowflake-state.json');
    fs.writeFileSync(file, '{"format":"snowflake-st');
    const r = await runNode([MAIN_JS], {
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_STATE_DIR: stateDir,
    });
    fs.rmSync(stateDir, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`state file ${file} is corrupt or truncated`);
  });

  it('GIVEN two processes on one state dir THEN the second exits 1 naming the lock', async () => {
    const stateDir = tempStateDir();
    const first = await startServiceProcess({ SNOWFLAKE_STATE_DIR: stateDir });
    try {
      const r = await runNode([MAIN_JS], {
        SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
        SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
        SNOWFLAKE_STATE_DIR: stateDir,
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        `state dir ${stateDir} is in use: another process holds the lock on ${stateDir}/snowflake.lock ` +
          `(the file names pid ${first.child.pid} on host`,
      );
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
