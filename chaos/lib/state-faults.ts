import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onExitSync } from './processes';

/** Makes a state dir read-only (0555) or writable again (0755); binds only a non-root service. */
export function setReadOnly(dir: string, readOnly: boolean): void {
  fs.chmodSync(dir, readOnly ? 0o555 : 0o755);
}

/** A tiny tmpfs mounted on a state dir, so that the dir's "disk" can be filled up. */
export interface SmallDisk {
  /** Writes a filler file until the tmpfs is full (ENOSPC). */
  fill(): void;
  /** Deletes the filler. */
  drain(): void;
  unmount(): void;
}

const FILLER = 'chaos-filler';

/**
 * Mounts a `sizeKiB` tmpfs on `dir` owned by `owner`, or returns the reason it cannot (not root, no
 * CAP_SYS_ADMIN in this container, no mount binary).
 */
export function mountSmallDisk(
  dir: string,
  sizeKiB: number,
  owner: { uid: number; gid: number } | undefined,
): SmallDisk | string {
  const ownerOpts = owner === undefined ? '' : `,uid=${owner.uid},gid=${owner.gid}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755${ownerOpts}`, 'tmpfs', dir], {
      stdio: 'pipe',
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `cannot mount a tmpfs (${stderr !== undefined && stderr !== '' ? stderr : String(err)})`;
  }
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  };
  onExitSync(unmount);
  const filler = path.join(dir, FILLER);
  return {
    fill() {
      const chunk = Buffer.alloc(16 * 1024);
      const fd = fs.openSync(filler, 'w');
      try {
        // Bounded by the tmpfs size: at most sizeKiB / 16 chunks fit.
        for (let i = 0; i <= sizeKiB / 16 + 1; i++) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        fs.closeSync(fd);
      }
    },
    drain() {
      fs.rmSync(filler, { force: true });
    },
    unmount,
  };
}
