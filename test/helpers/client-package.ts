import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './process';

const run = promisify(execFile);

/** Bound of one npm command; installs and builds on a loaded CI machine take a while. */
const NPM_TIMEOUT_MS = 300_000;

/** The packed client: its tarball and the paths inside it. */
export interface PackedClient {
  readonly tarball: string;
  readonly files: readonly string[];
}

/**
 * `npm pack`s packages/client from a copy of its sources laid out as in the repository (the canonical
 * proto beside it, the repository's node_modules for the build tools) under `dir`, so that its own
 * `prepare`/`prepack` build it from scratch, as on publish, without touching the working tree's dist/.
 * `root`: the repository (default: the one this file is in, uncompiled).
 */
export async function packClient(dir: string, root = ROOT): Promise<PackedClient> {
  const repo = path.join(dir, 'repo');
  const pkg = path.join(repo, 'packages/client');
  const source = path.join(root, 'packages/client');
  fs.cpSync(source, pkg, {
    recursive: true,
    filter: (from) => !['dist', 'proto', 'node_modules'].includes(path.relative(source, from)),
  });
  fs.cpSync(path.join(root, 'proto'), path.join(repo, 'proto'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(repo, 'node_modules'), 'dir');
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', out], {
    cwd: pkg,
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (packed === undefined) throw new Error(`npm pack printed no package: ${stdout}`);
  return { tarball: path.join(out, packed.filename), files: packed.files.map((f) => f.path) };
}

/** The @grpc/grpc-js version this repository runs, so an install can come from the local npm cache. */
export function repositoryGrpcVersion(root = ROOT): string {
  const manifest = path.join(root, 'node_modules/@grpc/grpc-js/package.json');
  return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/**
 * Creates an empty project in `dir` and installs `tarball` plus @grpc/grpc-js (the repository's version)
 * into it, as an application would: `npm install @snowflake-id/client @grpc/grpc-js`. `--prefer-offline`:
 * from the npm cache when it holds the packages (CI installed them for the repository), else the registry.
 */
export async function installConsumer(dir: string, tarball: string, root = ROOT): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`,
  );
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
      `@grpc/grpc-js@${repositoryGrpcVersion(root)}`,
    ],
    { cwd: dir, timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
  );
}
