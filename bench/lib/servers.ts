import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startChild, type ChildServer } from './child';
import { MAIN_JS } from './paths';

/** Start-line `msg` of the baseline server (bench/baseline-server.ts). */
export const BASELINE_STARTED = 'baseline server started';

/** Extra node flags and environment for a server child (e.g. --cpu-prof). */
export interface ServerChildOptions {
  readonly nodeArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** The one CPU the server runs on (see affinity.ts); default any. */
  readonly cpu?: number;
}

/**
 * The real service, `node dist/main.js`, on 127.0.0.1 with OS-chosen ports and a throw-away state
 * folder (removed when it stops), in its own process so it gets a core of its own.
 */
export async function startService(options: ServerChildOptions = {}): Promise<ChildServer> {
  if (!fs.existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run npm run build first`);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-bench-'));
  const removeState = () => {
    fs.rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const server = await startChild({
      script: MAIN_JS,
      nodeArgs: options.nodeArgs ?? [],
      cpu: options.cpu,
      env: {
        SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
        SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
        SNOWFLAKE_STATE_DIR: stateDir,
        SNOWFLAKE_LOG_LEVEL: 'info',
        ...options.env,
      },
      startMessage: 'snowflake service started',
      readyMessage: 'serving',
    });
    return { ...server, stop: (timeoutMs) => server.stop(timeoutMs).finally(removeState) };
  } catch (err) {
    removeState();
    throw err;
  }
}

/** The empty-handler baseline (bench/baseline-server.ts) in its own process, on 127.0.0.1. */
export function startBaseline(options: ServerChildOptions = {}): Promise<ChildServer> {
  return startChild({
    script: path.join(__dirname, '../baseline-server.js'),
    nodeArgs: options.nodeArgs ?? [],
    cpu: options.cpu,
    env: { BASELINE_GRPC_ADDR: '127.0.0.1:0', ...options.env },
    startMessage: BASELINE_STARTED,
  });
}
