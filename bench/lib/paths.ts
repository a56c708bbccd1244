import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The repository root: the nearest folder up from this file whose package.json is this service's. Found
 * by name rather than a fixed `../..` because this file runs compiled from dist/bench/bench/lib/.
 */
export const ROOT = findRoot(__dirname);

/** The compiled service entry point (`npm run build`). */
export const MAIN_JS = path.join(ROOT, 'dist/main.js');

/** The contract, loaded by the baseline server and nothing else in bench/. */
export const PROTO_ROOT = path.join(ROOT, 'proto');
export const ID_GENERATOR_PROTO = 'snowflake/v1/id_generator.proto';

/** Where `npm run bench` and `npm run soak` write their JSON (git-ignored). */
export const RESULTS_DIR = path.join(ROOT, 'bench/results');

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const { name } = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string };
      if (name === 'snowflake-id-service') return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`no snowflake-id-service package.json above ${from}`);
  }
}
