/**
 * `npm run bench:client`: what an application pays for the client (issue 15). `npm pack`s the client,
 * installs it with @grpc/grpc-js into an empty project (`npm install <tarball> @grpc/grpc-js@1`, the
 * registry's current versions, from the npm cache where it has them) and prints its packages and disk use, then the wall time, modules loaded and RSS
 * of `require('@snowflake-id/client')`, and of that plus a first `createIdClient` (which loads the proto),
 * next to a bare `node -e 0`: medians of interleaved rounds, in child processes.
 *
 *   npm run bench:client
 *   npm run bench:client -- --baseline=<tarball>   the same for another tarball's main entry, e.g. the
 *                                                  service package from before the split (it exported the
 *                                                  client), installed into its own empty project
 *   BENCH_ROUNDS=15                                rounds per figure (default 15)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packClient } from '../test/helpers/client-package';
import { ROOT } from './lib/paths';
import { runMain } from './lib/report';
import { formatNumber, median } from './lib/stats';

/** One measured program: JavaScript run with `node -e` in an installed project. */
interface Probe {
  readonly label: string;
  readonly dir: string;
  readonly code: string;
}

interface Sample {
  readonly ms: number;
  readonly modules: number;
  readonly rssMiB: number;
}

const REPORT = `process.stdout.write(JSON.stringify({ modules: Object.keys(require.cache).length, rss: process.memoryUsage().rss }))`;

function sample(probe: Probe): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['-e', `${probe.code};${REPORT}`], {
    cwd: probe.dir,
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${probe.label} failed: ${r.stderr}`);
  const { modules, rss } = JSON.parse(r.stdout) as { modules: number; rss: number };
  return { ms, modules, rssMiB: rss / 2 ** 20 };
}

/** Packages (directories with a package.json, nested ones included) under `dir`/node_modules. */
function countPackages(nodeModules: string): number {
  let count = 0;
  for (const entry of fs.readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = path.join(nodeModules, entry.name);
    if (entry.name.startsWith('@')) count += countPackages(dir);
    else if (fs.existsSync(path.join(dir, 'package.json'))) {
      count++;
      const nested = path.join(dir, 'node_modules');
      if (fs.existsSync(nested)) count += countPackages(nested);
    }
  }
  return count;
}

/** Disk use of `dir` in MB (10^6 bytes), as `du -sk` counts it. */
function diskMB(dir: string): number {
  const r = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  return (Number(r.stdout.split('\t')[0]) * 1024) / 1e6;
}

/** Packages and disk use of the application in `dir` after `install` filled its node_modules. */
async function installed(
  dir: string,
  install: () => Promise<void>,
): Promise<{ packages: number; mb: number }> {
  await install();
  const nodeModules = path.join(dir, 'node_modules');
  return { packages: countPackages(nodeModules), mb: diskMB(nodeModules) };
}

/**
 * `npm install <tarball> @grpc/grpc-js@1` into an empty project: what a user gets, versions as the
 * registry resolves them today (the pack test pins them to the repository's lock instead).
 */
function npmInstall(dir: string, tarball: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    '{ "name": "app", "version": "1.0.0", "private": true }\n',
  );
  const r = spawnSync(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, '@grpc/grpc-js@1'],
    {
      cwd: dir,
      encoding: 'utf8',
    },
  );
  return r.status === 0
    ? Promise.resolve()
    : Promise.reject(new Error(`npm install ${tarball}: ${r.stderr}`));
}

async function main(): Promise<number> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? '15');
  const baseline = process.argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-client-footprint-'));
  try {
    const client = path.join(tmp, 'client');
    const packed = await packClient(tmp, ROOT);
    const installs = [
      {
        label: '@snowflake-id/client + @grpc/grpc-js',
        ...(await installed(client, () => npmInstall(client, packed.tarball))),
      },
    ];
    const probes: Probe[] = [
      { label: 'node -e 0', dir: client, code: '0' },
      { label: "require('@snowflake-id/client')", dir: client, code: "require('@snowflake-id/client')" },
      {
        label: '… + createIdClient (loads the proto)',
        dir: client,
        code: "require('@snowflake-id/client').createIdClient({ addresses: ['127.0.0.1:1'] }).close()",
      },
    ];
    if (baseline !== undefined) {
      const dir = path.join(tmp, 'baseline');
      const name = (
        JSON.parse(
          spawnSync('tar', ['-xOzf', baseline, 'package/package.json'], { encoding: 'utf8' }).stdout,
        ) as {
          name: string;
        }
      ).name;
      installs.push({
        label: `${name} (baseline) + @grpc/grpc-js`,
        ...(await installed(dir, () => npmInstall(dir, path.resolve(baseline)))),
      });
      probes.push({ label: `require('${name}') (baseline)`, dir, code: `require('${name}')` });
    }
    const samples = new Map<string, Sample[]>(probes.map((p) => [p.label, []]));
    for (let round = 0; round < rounds; round++) {
      for (const probe of probes) samples.get(probe.label)?.push(sample(probe));
    }
    process.stdout.write(
      `client footprint (${rounds} rounds, node ${process.version}, ${os.cpus().length} CPUs)\n\n`,
    );
    process.stdout.write('| install | packages | MB on disk |\n| --- | --- | --- |\n');
    for (const i of installs)
      process.stdout.write(`| ${i.label} | ${i.packages} | ${formatNumber(i.mb, 1)} |\n`);
    process.stdout.write('\n| program | wall ms (median) | modules | RSS MiB |\n| --- | --- | --- | --- |\n');
    for (const probe of probes) {
      const s = samples.get(probe.label) ?? [];
      const cell = (f: (x: Sample) => number, digits: number) => formatNumber(median(s.map(f)), digits);
      process.stdout.write(
        `| ${probe.label} | ${cell((x) => x.ms, 0)} | ${cell((x) => x.modules, 0)} | ${cell((x) => x.rssMiB, 1)} |\n`,
      );
    }
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

runMain('bench:client', main);
