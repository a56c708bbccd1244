import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VARIABLE_DOCS } from '../../src/config';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import { idGeneratorClient, unaryOk } from '../helpers/grpc-client';
import { MAIN_JS, ROOT, runNode, startServiceProcess } from '../helpers/process';
import { tempStateDir } from '../helpers/server';

describe('the service process (dist/main.js)', () => {
  it('--help lists every variable with its default and exits 0', async () => {
    const r = await runNode([MAIN_JS, '--help']);
    expect(r.code).toBe(0);
    for (const doc of VARIABLE_DOCS) expect(r.stdout).toContain(doc.name);
    expect(r.stdout).toContain('default 0.0.0.0:50051');
  });

  it.each([
    ['SNOWFLAKE_WORKER_ID', '32', 'must be an integer from 0 to 31'],
    ['SNOWFLAKE_SEQUENCE_BITS', '13', 'must sum to 63'],
    ['SNOWFLAKE_EPOCH', '2999-01-01T00:00:00Z', 'must not be in the future'],
    ['SNOWFLAKE_MAX_BATCH_SIZE', '100001', 'must be an integer from 1 to 100000'],
  ])(
    'GIVEN %s=%s THEN it exits 1 naming the variable and the allowed range',
    async (name, value, message) => {
      const r = await runNode([MAIN_JS], { [name]: value });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(name);
      expect(r.stderr).toContain(message);
    },
  );

  it('GIVEN an unknown argument THEN it exits 2 with usage', async () => {
    const r = await runNode([MAIN_JS, '--port=1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown argument: --port=1');
  });

  it('GIVEN the gRPC port is taken THEN it exits 1 naming SNOWFLAKE_GRPC_ADDR', async () => {
    const first = await startServiceProcess();
    try {
      const r = await runNode([MAIN_JS], {
        SNOWFLAKE_GRPC_ADDR: `127.0.0.1:${first.grpcPort}`,
        SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
        SNOWFLAKE_STATE_DIR: tempStateDir(),
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('SNOWFLAKE_GRPC_ADDR');
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('serves, logs a start line, and on %s exits 0', async (signal) => {
    const svc = await startServiceProcess({ SNOWFLAKE_WORKER_ID: '5' });
    const start = svc.logs.find((l) => l.msg === 'snowflake service started');
    expect(start).toMatchObject({ level: 30, datacenterId: 0, workerId: 5, layout: { timestampBits: 41 } });
    const client = idGeneratorClient(svc.grpcPort);
    const r = await unaryOk<NextIdResponse__Output>(client, 'NextId', {});
    expect(BigInt(r.id) > 0n).toBe(true);
    client.close();
    svc.child.kill(signal);
    expect(await svc.exited).toBe(0);
    expect(svc.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['signal received', 'stopped']));
  });

  it('the HEALTHCHECK script exits 0 against a serving instance and 1 when nothing listens', async () => {
    const svc = await startServiceProcess();
    try {
      const ok = await runNode([path.join(ROOT, 'dist/healthcheck.js')], {
        SNOWFLAKE_HEALTHCHECK_ADDR: `127.0.0.1:${svc.grpcPort}`,
      });
      expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({
        code: 0,
        out: `127.0.0.1:${svc.grpcPort} snowflake.v1.IdGenerator: SERVING`,
      });
    } finally {
      svc.child.kill('SIGTERM');
      await svc.exited;
    }
    const down = await runNode([path.join(ROOT, 'dist/healthcheck.js')], {
      SNOWFLAKE_HEALTHCHECK_ADDR: `127.0.0.1:${svc.grpcPort}`,
    });
    expect(down.code).toBe(1);
  });
});

describe('generated TypeScript types', () => {
  it('match what proto-loader-gen-types produces from the .proto today', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-'));
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      };
      const script = pkg.scripts['gen:proto']!;
      const args = script
        .split(' ')
        .slice(1)
        .map((a) => (a === 'src/generated' ? out : a));
      execFileSync(path.join(ROOT, 'node_modules/.bin/proto-loader-gen-types'), args, { cwd: ROOT });
      const list = (dir: string): string[] =>
        fs
          .readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
          .sort();
      const generated = path.join(ROOT, 'src/generated');
      expect(list(out)).toEqual(list(generated));
      for (const f of list(out)) {
        expect(`${f}:\n${fs.readFileSync(path.join(generated, f), 'utf8')}`).toBe(
          `${f}:\n${fs.readFileSync(path.join(out, f), 'utf8')}`,
        );
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
