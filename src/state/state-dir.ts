import * as fs from 'node:fs';
import * as path from 'node:path';
import { StateDirError } from '../errors';

/**
 * `statfs` magic numbers (linux/magic.h) of kernel pseudo-filesystems: nothing written there is a file
 * on a disk, and some of them act on `mkdir` (a directory made under cgroupfs is a new cgroup).
 */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xf97cff8c, 'selinuxfs'],
  [0x43415d53, 'smackfs'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x62656570, 'configfs'],
  [0x958458f6, 'hugetlbfs'],
  [0x19800202, 'mqueue'],
  [0x42494e4d, 'binfmt_misc'],
  [0x65735543, 'fusectl'],
  [0x6e736673, 'nsfs'],
]);

/** The variable every message names, so an operator knows what to change. */
const VARIABLE = 'SNOWFLAKE_STATE_DIR';

/**
 * Makes sure `dir` (absolute) is a writable directory on a real filesystem, creating it and its missing
 * parents, or throws {@link StateDirError} naming SNOWFLAKE_STATE_DIR and the path. Checked, in order:
 * every existing component is a directory; no directory is made on a kernel pseudo-filesystem (/proc,
 * /sys, cgroupfs, …: checked before each `mkdir`) and the directory itself is not on one; each missing
 * component can be created; and the directory is writable (EACCES, or EROFS for a read-only mount). Directories are made one component at
 * a time — at most one `mkdir` per path component — because Node's recursive `mkdirSync` retries forever,
 * on the event loop, when `mkdir` answers ENOENT under a parent that exists (as /proc does).
 */
export function prepareStateDir(dir: string): void {
  for (const component of ancestry(dir)) {
    const stat = statOrUndefined(component, dir);
    if (stat === undefined) {
      refusePseudoFilesystem(path.dirname(component), dir);
      makeDirectory(component, dir);
    } else if (!stat.isDirectory()) {
      throw new StateDirError(
        `${VARIABLE}=${dir} cannot be used: ${component} exists and is not a directory (it is ${describe(stat)}); ` +
          `${VARIABLE} must name a writable directory`,
      );
    }
  }
  refusePseudoFilesystem(dir, dir);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    const why = code === 'EROFS' ? 'is on a read-only filesystem' : 'is not writable by this process';
    throw new StateDirError(
      `${VARIABLE}=${dir} ${why} (${code ?? String(err)}); the timestamp reservation and the lock are ` +
        `written there: give the service a writable directory`,
    );
  }
}

/** `dir` and each of its ancestors below the root, outermost first. */
function ancestry(dir: string): string[] {
  const chain: string[] = [];
  for (let p = dir; path.dirname(p) !== p; p = path.dirname(p)) chain.unshift(p);
  return chain;
}

/** The entry at `p` (following symlinks), or undefined when nothing is there. */
function statOrUndefined(p: string, dir: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') {
      throw new StateDirError(
        `${VARIABLE}=${dir} cannot be used: a component of ${p} is not a directory; ${VARIABLE} must name a ` +
          `writable directory`,
      );
    }
    throw new StateDirError(
      `${VARIABLE}=${dir} cannot be used: cannot inspect ${p} (${(err as Error).message})`,
    );
  }
}

function makeDirectory(p: string, dir: string): void {
  try {
    fs.mkdirSync(p);
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    // Made by a concurrent starter between our stat and mkdir: fine if it is a directory.
    if (code === 'EEXIST' && statOrUndefined(p, dir)?.isDirectory() === true) return;
    throw new StateDirError(
      `${VARIABLE}=${dir} cannot be used: cannot create the directory ${p} (${(err as Error).message}); ` +
        `${VARIABLE} must name a writable directory`,
    );
  }
}

function refusePseudoFilesystem(p: string, dir: string): void {
  let type: number;
  try {
    type = fs.statfsSync(p).type;
  } catch (err) {
    throw new StateDirError(
      `${VARIABLE}=${dir} cannot be used: cannot inspect ${p} (${(err as Error).message})`,
    );
  }
  const name = PSEUDO_FILESYSTEMS.get(type);
  if (name !== undefined) {
    throw new StateDirError(
      `${VARIABLE}=${dir} is on the kernel pseudo-filesystem ${name} (at ${p}), which cannot hold files; ` +
        `${VARIABLE} must name a writable directory on a real disk (a persistent volume)`,
    );
  }
}

function describe(stat: fs.Stats): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isSocket()) return 'a socket';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a directory';
}
