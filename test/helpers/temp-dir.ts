import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** State dirs made by {@link tempStateDir} in this (jest worker) process, removed when it exits. */
const madeStateDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of madeStateDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary SNOWFLAKE_STATE_DIR, deleted when the test process exits (or earlier by the test). */
export function tempStateDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-state-'));
  madeStateDirs.add(dir);
  return dir;
}
