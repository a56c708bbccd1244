import * as path from 'node:path';
import { z } from 'zod';
import { StateFileError } from '../errors';
import type { NodeId } from '../core/codec';
import { layoutEndMs, type Layout } from '../core/layout';
import { nodeFileSystem, type StateFileSystem } from './file-system';

/** Name of the state file inside SNOWFLAKE_STATE_DIR. */
export const STATE_FILE_NAME = 'snowflake-state.json';

const FORMAT = 'snowflake-state/1';

/**
 * The last queued write per state-file path, per file system (see {@link StateFile.write}): one map in
 * production; one per simulated process, whose queue dies with it as a real process's does.
 */
const writeQueues = new WeakMap<StateFileSystem, Map<string, Promise<void>>>();

/** Makes every temp file name unique within the process. */
let tempCounter = 0;

const StateSchema = z.object({
  format: z.literal(FORMAT),
  layout: z.object({
    epochMs: z.number().int(),
    timeUnitMs: z.number().int(),
    timestampBits: z.number().int(),
    datacenterBits: z.number().int(),
    workerBits: z.number().int(),
    sequenceBits: z.number().int(),
  }),
  datacenterId: z.number().int(),
  workerId: z.number().int(),
  reservedUntilMs: z.number().int().nonnegative(),
  updatedAt: z.string(),
});

/** The persisted record: which layout and node it belongs to, and the timestamp reservation. */
export type PersistedState = z.infer<typeof StateSchema>;

/** What {@link StateFile.read} found. */
export interface ReadResult {
  /** Reservation (Unix ms) to start after: every ID issued by earlier runs has a timestamp before it; 0 if none. */
  readonly reservedUntilMs: number;
  /** Set when the file belonged to another node and was ignored because the node may change (etcd). */
  readonly ignoredNode?: NodeId;
}

/**
 * The durable timestamp reservation in `<dir>/snowflake-state.json`. Writes are atomic and durable:
 * write to a temp file, fsync it, rename over the old file, fsync the directory — a crash or a power
 * loss leaves either the old or the new file, never a torn one, and a write that resolved survives it.
 */
export class StateFile {
  /** Absolute path of the state file. */
  readonly path: string;
  private readonly dir: string;
  private readonly layout: Layout;
  private readonly node: NodeId;
  private readonly fs: StateFileSystem;

  /** `fs`: the file system it goes through; default node:fs (the fault simulation passes its disk). */
  constructor(dir: string, layout: Layout, node: NodeId, fs: StateFileSystem = nodeFileSystem) {
    this.dir = dir;
    this.path = path.join(dir, STATE_FILE_NAME);
    this.layout = layout;
    this.node = node;
    this.fs = fs;
  }

  /**
   * Reads the reservation (synchronous: boot only). Missing file → 0. Throws {@link StateFileError}
   * naming the path when the file is unreadable, corrupt or truncated, holds a reservation beyond the
   * layout's end ({@link layoutEndMs}), or was written for another layout — or another node, unless
   * `nodeMayChange` (then the old reservation is ignored).
   */
  read(nodeMayChange = false): ReadResult {
    let text: string;
    try {
      text = this.fs.readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { reservedUntilMs: 0 };
      throw new StateFileError(`cannot read state file ${this.path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new StateFileError(
        `state file ${this.path} is corrupt or truncated (${(err as Error).message}); it holds the timestamp ` +
          `reservation that prevents duplicate IDs after a restart. Restore it, or remove it only if the clock ` +
          `is known to be past every ID this worker issued`,
      );
    }
    const parsed = StateSchema.safeParse(json);
    if (!parsed.success) {
      throw new StateFileError(
        `state file ${this.path} is not a valid ${FORMAT} record: ` +
          parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    }
    const state = parsed.data;
    const mismatch = (Object.keys(this.layout) as (keyof Layout)[]).filter(
      (k) => state.layout[k] !== this.layout[k],
    );
    if (mismatch.length > 0) {
      throw new StateFileError(
        `state file ${this.path} was written for another layout (${mismatch
          .map((k) => `${k} ${state.layout[k]} there, ${this.layout[k]} here`)
          .join('; ')}); refusing to reuse it. Use a new SNOWFLAKE_STATE_DIR if the change is intentional`,
      );
    }
    // Every reservation this service writes lies within the layout's time range (the generator stops at
    // its end), so a value beyond it is damage, whichever node wrote it, not a time to wait for.
    const endMs = layoutEndMs(this.layout);
    if (state.reservedUntilMs > endMs) {
      throw new StateFileError(
        `state file ${this.path} is corrupt: reservedUntilMs ${state.reservedUntilMs} lies beyond the end of ` +
          `the layout's time range (allowed: 0 to ${endMs}, ${new Date(endMs).toISOString()}). Restore it, or ` +
          `remove it only if the clock is known to be past every ID this worker issued`,
      );
    }
    if (state.datacenterId !== this.node.datacenterId || state.workerId !== this.node.workerId) {
      const old = { datacenterId: state.datacenterId, workerId: state.workerId };
      if (nodeMayChange) return { reservedUntilMs: 0, ignoredNode: old };
      throw new StateFileError(
        `state file ${this.path} was written for datacenter ${old.datacenterId} worker ${old.workerId}, but this ` +
          `instance is datacenter ${this.node.datacenterId} worker ${this.node.workerId}; refusing to reuse it. ` +
          `Use a new SNOWFLAKE_STATE_DIR if the change is intentional`,
      );
    }
    return { reservedUntilMs: state.reservedUntilMs };
  }

  /**
   * Atomically and durably replaces the file with a reservation of `reservedUntilMs` (Unix ms). Writes
   * to one path run one at a time in call order, across StateFile objects on one file system (a
   * re-claimed session writes the same file as the one it replaces), so a slow older write can never land
   * after a newer one. Rejects with an error naming the file or directory that failed (and the errno
   * message: ENOSPC, EIO…).
   */
  write(reservedUntilMs: number): Promise<void> {
    let queues = writeQueues.get(this.fs);
    if (queues === undefined) {
      queues = new Map();
      writeQueues.set(this.fs, queues);
    }
    const queue = queues;
    const previous = queue.get(this.path) ?? Promise.resolve();
    const next = previous.then(() => this.writeNow(reservedUntilMs));
    const settled = next.catch(() => undefined);
    queue.set(this.path, settled);
    void settled.then(() => {
      if (queue.get(this.path) === settled) queue.delete(this.path);
    });
    return next;
  }

  private async writeNow(reservedUntilMs: number): Promise<void> {
    const state: PersistedState = {
      format: FORMAT,
      layout: { ...this.layout },
      datacenterId: this.node.datacenterId,
      workerId: this.node.workerId,
      reservedUntilMs: Math.ceil(reservedUntilMs),
      updatedAt: new Date(reservedUntilMs).toISOString(),
    };
    tempCounter += 1;
    const tmp = `${this.path}.${process.pid}.${tempCounter}.tmp`;
    try {
      const file = await this.fs.openForWrite(tmp);
      try {
        await file.writeFile(`${JSON.stringify(state)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      await this.fs.rename(tmp, this.path);
    } catch (err) {
      // A failed write (disk full, read-only) leaves no temp files behind; the old state file stays.
      await this.fs.remove(tmp).catch(() => undefined);
      throw new Error(`cannot write ${tmp}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const dir = await this.fs.openDirectory(this.dir);
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      throw new Error(`cannot fsync the state dir ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
  }
}
