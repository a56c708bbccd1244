import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, runNode } from '../helpers/process';

// The layering rules of eslint.config.mjs, run through ESLint's Node API (`new ESLint()`, lintText) with
// the repository's config on real file paths: each forbidden import must be reported, each allowed one
// must not. ESLint runs in one child process (test/helpers/lint-imports.mjs) for every case below.

const CORE = 'src/core/codec.ts';
const CONTRACT = 'packages/client/src/contract/layout.ts';
const CLIENT = 'packages/client/src/id-client.ts';
const CLIENT_ESM = 'packages/client/src/esm/index.mts';
const SERVICE = 'src/server.ts';
const GRPC_LAYER = 'src/grpc/id-generator-service.ts';

const FORBIDDEN: readonly (readonly [string, string, RegExp])[] = [
  [CORE, '@grpc/grpc-js', /src\/core is pure/],
  [CORE, 'pino', /src\/core is pure/],
  [CORE, 'prom-client', /src\/core is pure/],
  [CORE, 'zod', /src\/core is pure/],
  [CORE, 'node:fs', /src\/core is pure/],
  [CORE, '../errors', /src\/core is pure/],
  [CORE, '../config', /src\/core is pure/],
  [CORE, '@snowflake-id/client', /src\/core is pure/],
  [CONTRACT, '@grpc/grpc-js', /contract is a leaf/],
  [CONTRACT, 'node:path', /contract is a leaf/],
  [CONTRACT, '../errors', /contract is a leaf/],
  [CONTRACT, '../../../../src/core/layout', /contract is a leaf/],
  [CLIENT, '../../../src/config', /never imports from outside itself/],
  [CLIENT, '../../../src/grpc/proto', /never imports from outside itself/],
  [CLIENT, 'zod', /imports only its own files/],
  [CLIENT, 'pino', /imports only its own files/],
  [CLIENT, 'etcd3', /imports only its own files/],
  [CLIENT, 'protobufjs', /imports only its own files/],
  [CLIENT_ESM, '../../../../src/index', /never imports from outside itself/],
  [SERVICE, './grpc/status', /Only the gRPC layer/],
  [SERVICE, '../packages/client/src/id-client', /never its files/],
  [SERVICE, 'etcd3', /Only src\/worker-id\/etcd\/etcd3-adapter\.ts uses etcd3/],
  [GRPC_LAYER, '../../packages/client/src/contract', /never its files/],
];

const ALLOWED: readonly (readonly [string, string])[] = [
  [CORE, './layout'],
  [CORE, '@snowflake-id/client/contract'],
  [CONTRACT, './id-fields'],
  [CLIENT, './contract'],
  [CLIENT, '@grpc/grpc-js'],
  [CLIENT, '@grpc/proto-loader'],
  [CLIENT, 'node:path'],
  [CLIENT_ESM, '../index.js'],
  [SERVICE, '@snowflake-id/client/contract'],
  [SERVICE, '@snowflake-id/client'],
  [SERVICE, './grpc/proto'],
  [GRPC_LAYER, './status'],
];

/** The no-restricted-imports messages per case, in the order of FORBIDDEN then ALLOWED. */
let reports: string[][];

beforeAll(async () => {
  const cases = [...FORBIDDEN, ...ALLOWED].map(([file, specifier]) => [file, specifier]);
  const run = await runNode(
    [path.join(ROOT, 'test/helpers/lint-imports.mjs'), JSON.stringify(cases)],
    {},
    180_000,
  );
  expect(run).toMatchObject({ code: 0, stderr: '' });
  reports = JSON.parse(run.stdout) as string[][];
  expect(reports).toHaveLength(cases.length);
}, 200_000);

describe('import direction (eslint.config.mjs no-restricted-imports)', () => {
  it.each(FORBIDDEN.map(([file, specifier, message], i) => [file, specifier, message, i] as const))(
    'GIVEN %s importing %s THEN lint reports it',
    (_file, _specifier, message, i) => {
      expect(reports[i]).toHaveLength(1);
      expect(reports[i]?.[0]).toMatch(message);
    },
  );

  it.each(ALLOWED.map(([file, specifier], i) => [file, specifier, FORBIDDEN.length + i] as const))(
    'GIVEN %s importing %s THEN lint allows it',
    (_file, _specifier, i) => {
      expect(reports[i]).toEqual([]);
    },
  );
});

describe('src/core', () => {
  it('names no environment variable, in messages or anywhere else (callers pass the names)', () => {
    const dir = path.join(ROOT, 'src/core');
    const hits = fs
      .readdirSync(dir)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        fs
          .readFileSync(path.join(dir, file), 'utf8')
          .split('\n')
          .flatMap((line, i) =>
            /SNOWFLAKE_/.test(line) ? [`src/core/${file}:${i + 1}: ${line.trim()}`] : [],
          ),
      );
    expect(hits).toEqual([]);
  });
});
