import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
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

interface LockEntry {
  readonly version?: string;
  readonly link?: boolean;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly [field: string]: unknown;
}

/**
 * The package-lock.json of an application that depends on the client tarball (at `tarballPath`, relative
 * to the application) and @grpc/grpc-js, every package at the version of the repository's own lock.
 */
function consumerLock(tarballPath: string, integrity: string): unknown {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Readonly<Record<string, LockEntry>>;
  };
  const client = lock.packages['packages/client'];
  const grpc = lock.packages['node_modules/@grpc/grpc-js'];
  if (client === undefined || grpc?.version === undefined)
    throw new Error('the repository lock has no client');
  const resolved = `file:${tarballPath}`;
  const packages: Record<string, unknown> = {
    '': {
      name: 'consumer',
      version: '1.0.0',
      dependencies: { '@snowflake-id/client': resolved, '@grpc/grpc-js': grpc.version },
    },
    'node_modules/@snowflake-id/client': {
      ...Object.fromEntries(
        Object.entries(client).filter(([field]) => field !== 'devDependencies' && field !== 'name'),
      ),
      resolved,
      integrity,
    },
  };
  const add = (name: string): void => {
    const key = `node_modules/${name}`;
    if (key in packages) return;
    const entry = lock.packages[key];
    if (entry === undefined || entry.link === true)
      throw new Error(`${name} is not installed in the repository`);
    // The application needs it at run time, whatever it is to the repository.
    packages[key] = Object.fromEntries(
      Object.entries(entry).filter(([field]) => !['dev', 'peer', 'devOptional'].includes(field)),
    );
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) add(dep);
  };
  add('@grpc/grpc-js');
  for (const dep of Object.keys(client.dependencies ?? {})) add(dep);
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/**
 * Creates an application in `dir` that depends on `tarball` and @grpc/grpc-js (as `npm install
 * @snowflake-id/client @grpc/grpc-js` would) and installs them with `npm ci`, every package at the
 * version of the repository's lock. The lock lets npm take them from its cache when the repository's own
 * install put them there (npm install would want the registry's full package documents, which npm ci
 * does not cache); `--prefer-offline`: from the registry only what the cache lacks.
 */
export async function installConsumer(dir: string, tarball: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const integrity = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
  const lock = consumerLock(path.relative(dir, tarball), integrity) as {
    packages: Record<string, unknown>;
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(lock.packages[''], null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
}
