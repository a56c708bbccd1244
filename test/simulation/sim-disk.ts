import type { StateFileSystem, SyncableDirectory, WritableFile } from '../../src/state/file-system';
import type { SimTimer } from './event-loop';
import { count, type World } from './world';

/** A file's content: what reads see now, and what a power loss leaves (the content at its last fsync). */
interface Inode {
  data: string;
  durableData: string;
}

/** A change to the directory, durable once the directory is fsynced. */
type DirOp =
  | { readonly kind: 'link'; readonly name: string; readonly inode: Inode }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  | { readonly kind: 'unlink'; readonly name: string };

/** One file-system call under way: it takes effect when its timer fires. */
interface PendingOp {
  readonly timer: SimTimer | undefined;
  readonly apply: () => void;
}

/** What the next write's crash does: called right after the k-th file-system call from the temp file's open. */
interface WriteCrash {
  opsLeft: number;
  readonly crash: () => void;
}

/** The state directory on every simulated machine. */
export const STATE_DIR = '/var/lib/snowflake';

/** Most calls a state-file write makes: open, write, fsync, close, rename, open dir, fsync dir, close dir. */
const CALLS_PER_WRITE = 8;

/**
 * The disk of one machine: one directory of files, with the durability a POSIX file system promises and
 * no more. Content written is seen by reads at once but survives a power loss only once the file is
 * fsynced; a name created, renamed or removed survives only once the directory is fsynced (a power loss
 * keeps a random prefix of the directory changes since, as a journal would, and each unsynced file keeps
 * its new content or its content at its last fsync, at random). A process crash (kill -9) loses nothing
 * the kernel had: a call in progress takes effect or not, at random. It holds bytes, not records: the
 * real StateFile reads and writes through {@link SimDisk.fileSystemFor}.
 *
 * Faults: failing writes and fsyncs (ENOSPC, EIO), slow calls, an fsync that never returns, and a crash
 * between two calls of a write.
 */
export class SimDisk {
  /** Writes and fsyncs completing before this true time fail. */
  failUntilMs = -Infinity;
  /** Calls started before this true time are slow (tens to hundreds of ms). */
  slowUntilMs = -Infinity;
  /** How many of the next file fsyncs hang forever (until a crash drops them). */
  hangNext = 0;
  private readonly world: World;
  /** Names as the running system sees them. */
  private entries = new Map<string, Inode>();
  /** Names as of the last directory fsync. */
  private durableEntries = new Map<string, Inode>();
  /** Directory changes since the last directory fsync, in order. */
  private dirLog: DirOp[] = [];
  /** Files written since their last fsync. */
  private readonly unsynced = new Set<Inode>();
  private readonly pending = new Set<PendingOp>();
  private readonly views = new WeakMap<{ readonly alive: boolean }, StateFileSystem>();
  private writeCrash: WriteCrash | undefined;
  private crashArmed: (() => void) | undefined;
  /** Changes whenever what survives a power loss may have changed. */
  private durableVersion = 0;

  constructor(world: World) {
    this.world = world;
  }

  /** Bumped whenever what survives a power loss may have changed (to cache what is read from it). */
  get version(): number {
    return this.durableVersion;
  }

  /**
   * The file system as process `owner` sees it: calls settle only while `owner.alive`. One object per
   * owner, so that StateFile's write queue (kept per file system) lives and dies with the process.
   */
  fileSystemFor(owner: { readonly alive: boolean }): StateFileSystem {
    let view = this.views.get(owner);
    if (view === undefined) {
      view = this.view(() => owner.alive);
      this.views.set(owner, view);
    }
    return view;
  }

  /** Read-only: the files exactly as a power loss now would leave them at the least (nothing unsynced kept). */
  durableFileSystem(): StateFileSystem {
    const refuse = (): Promise<never> => Promise.reject(new Error('EROFS: the durable view is read-only'));
    return {
      readFile: (path) => {
        const inode = this.durableEntries.get(path);
        if (inode === undefined) throw enoent(path);
        return inode.durableData;
      },
      openForWrite: refuse,
      openDirectory: refuse,
      rename: refuse,
      remove: refuse,
    };
  }

  /**
   * Crashes the machine (through `crash`) right after one of the calls of the next state-file write,
   * from its temp file's open to its directory's close, chosen at random: every point of the write.
   */
  crashDuringNextWrite(crash: () => void): void {
    this.crashArmed = crash;
  }

  /**
   * The process died (`crashed`) or exited: each call in progress takes effect or not, at random; the
   * kernel keeps everything else (page cache included).
   */
  crash(crashed = true): void {
    let inFlight = 0;
    for (const op of this.pending) {
      this.world.loop.cancel(op.timer);
      if (op.timer === undefined) continue;
      inFlight++;
      if (this.world.rng.chance(0.5)) op.apply();
    }
    this.pending.clear();
    this.hangNext = 0;
    this.writeCrash = undefined;
    if (crashed && inFlight > 0) count(this.world.counters, 'event.crash during a disk call');
  }

  /**
   * The machine lost power (call after {@link SimDisk.crash}): a random prefix of the directory changes
   * since the last directory fsync survives, and each file written since its last fsync keeps its new
   * content or loses it, at random. Afterwards everything on the disk is durable.
   */
  powerLoss(): void {
    const { rng, counters } = this.world;
    const kept = rng.int(0, this.dirLog.length);
    if (this.dirLog.slice(kept).some((op) => op.kind === 'rename')) {
      count(counters, 'event.power loss undid a rename');
    }
    const survived = new Map(this.durableEntries);
    for (const op of this.dirLog.slice(0, kept)) applyDirOp(survived, op);
    let lost = false;
    for (const inode of this.unsynced) {
      if (rng.chance(0.5)) inode.durableData = inode.data;
      else {
        inode.data = inode.durableData;
        lost = true;
      }
    }
    if (lost) count(counters, 'event.power loss lost unsynced data');
    this.unsynced.clear();
    this.entries = survived;
    this.durableEntries = new Map(survived);
    this.dirLog = [];
    this.durableVersion++;
  }

  private view(alive: () => boolean): StateFileSystem {
    return {
      readFile: (path) => {
        const inode = this.entries.get(path);
        if (inode === undefined) throw enoent(path);
        return inode.data;
      },
      openForWrite: (path) =>
        this.call(alive, 'meta', () => {
          let inode = this.entries.get(path);
          if (inode === undefined) {
            inode = { data: '', durableData: '' };
            this.changeDir({ kind: 'link', name: path, inode });
          } else {
            inode.data = '';
            this.unsynced.add(inode);
          }
          if (this.crashArmed !== undefined) {
            this.writeCrash = { opsLeft: this.world.rng.int(1, CALLS_PER_WRITE), crash: this.crashArmed };
            this.crashArmed = undefined;
          }
          return this.file(alive, inode);
        }),
      openDirectory: () => this.call(alive, 'meta', () => this.directory(alive)),
      rename: (from, to) =>
        this.call(alive, 'meta', () => {
          if (!this.entries.has(from)) throw enoent(from);
          this.changeDir({ kind: 'rename', from, to });
        }),
      remove: (path) =>
        this.call(alive, 'meta', () => {
          if (this.entries.has(path)) this.changeDir({ kind: 'unlink', name: path });
        }),
    };
  }

  private file(alive: () => boolean, inode: Inode): WritableFile {
    return {
      writeFile: (data) =>
        this.call(alive, 'write', () => {
          inode.data = data;
          this.unsynced.add(inode);
        }),
      sync: () =>
        this.call(alive, 'sync', () => {
          inode.durableData = inode.data;
          this.unsynced.delete(inode);
          this.durableVersion++;
        }),
      close: () => this.call(alive, 'meta', () => undefined),
    };
  }

  private directory(alive: () => boolean): SyncableDirectory {
    return {
      sync: () =>
        this.call(alive, 'dir-sync', () => {
          for (const op of this.dirLog) applyDirOp(this.durableEntries, op);
          this.dirLog = [];
          this.durableVersion++;
        }),
      close: () => this.call(alive, 'meta', () => undefined),
    };
  }

  private changeDir(op: DirOp): void {
    applyDirOp(this.entries, op);
    this.dirLog.push(op);
  }

  /**
   * One call: it takes effect (`effect`) after a delay on the true clock, then settles, unless the
   * process died meanwhile. A write or fsync fails while `failUntilMs` lasts; a file fsync may hang.
   */
  private call<T>(
    alive: () => boolean,
    kind: 'meta' | 'write' | 'sync' | 'dir-sync',
    effect: () => T,
  ): Promise<T> {
    const { loop, rng, counters } = this.world;
    return new Promise<T>((resolve, reject) => {
      if (kind === 'sync' && this.hangNext > 0) {
        this.hangNext--;
        count(counters, 'event.disk write hung');
        this.pending.add({ timer: undefined, apply: () => undefined });
        return;
      }
      const slow = loop.now < this.slowUntilMs;
      const delayMs =
        kind === 'meta'
          ? rng.range(0.01, 0.2)
          : slow
            ? rng.range(30, 500)
            : kind === 'write'
              ? rng.range(0.05, 1)
              : rng.range(0.1, 3);
      const fails = kind !== 'meta' && loop.now + delayMs < this.failUntilMs;
      const op: PendingOp = {
        apply: () => {
          try {
            if (!fails) effect();
          } catch {
            // The call failed (a rename of a missing file): it changed nothing.
          }
        },
        timer: loop.after(delayMs, () => {
          this.pending.delete(op);
          if (!alive()) return;
          let outcome: { ok: true; value: T } | { ok: false; error: Error };
          if (fails) {
            count(counters, 'event.disk write failed');
            outcome = { ok: false, error: new Error(`${kind === 'write' ? 'ENOSPC' : 'EIO'}: disk fault`) };
          } else {
            try {
              outcome = { ok: true, value: effect() };
            } catch (err) {
              outcome = { ok: false, error: err as Error };
            }
          }
          const writeCrash = this.writeCrash;
          if (writeCrash !== undefined && --writeCrash.opsLeft <= 0) {
            this.writeCrash = undefined;
            count(counters, 'event.crash between two calls of a write');
            writeCrash.crash();
            return;
          }
          this.world.dirty = true;
          if (outcome.ok) resolve(outcome.value);
          else reject(outcome.error);
        }),
      };
      this.pending.add(op);
    });
  }
}

function applyDirOp(entries: Map<string, Inode>, op: DirOp): void {
  if (op.kind === 'link') entries.set(op.name, op.inode);
  else if (op.kind === 'unlink') entries.delete(op.name);
  else {
    const inode = entries.get(op.from);
    entries.delete(op.from);
    if (inode !== undefined) entries.set(op.to, inode);
  }
}

function enoent(path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`ENOENT: no such file or directory, open '${path}'`);
  err.code = 'ENOENT';
  return err;
}
