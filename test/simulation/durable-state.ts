import type { NodeId } from '../../src/core/codec';
import type { Layout } from '../../src/core/layout';
import { StateFileError } from '../../src/errors';
import { StateFile } from '../../src/state/state-file';
import type { InvariantChecker } from './checker';
import { STATE_DIR, type SimDisk } from './sim-disk';

/** What the real StateFile reads from a disk: a reservation (Unix ms), or why it refuses the file. */
export type StateReading = { readonly reservedUntilMs: number } | { readonly refused: string };

interface Cached {
  readonly version: number;
  readonly node: NodeId;
  readonly reading: StateReading;
}

const cache = new WeakMap<SimDisk, Cached>();

/**
 * What a successor of static node `node` on this machine would start after if the power failed now: the
 * real StateFile's reading of what is certain to survive (the files and names as of their last fsync).
 * Cached per disk until that (or the node) changes.
 */
export function durableReading(disk: SimDisk, layout: Layout, node: NodeId): StateReading {
  const cached = cache.get(disk);
  if (
    cached?.version === disk.version &&
    cached.node.datacenterId === node.datacenterId &&
    cached.node.workerId === node.workerId
  ) {
    return cached.reading;
  }
  const reading = read(new StateFile(STATE_DIR, layout, node, disk.durableFileSystem()), false);
  cache.set(disk, { version: disk.version, node, reading });
  return reading;
}

/**
 * After a power loss: the state file must still be a valid record, since a corrupt one stops every later
 * start on this machine until an operator repairs it (`durability` otherwise). Another node's file is fine.
 */
export function checkAfterPowerLoss(
  disk: SimDisk,
  layout: Layout,
  node: NodeId,
  checker: InvariantChecker,
  who: string,
): void {
  const reading = read(new StateFile(STATE_DIR, layout, node, disk.fileSystemFor({ alive: true })), true);
  if ('refused' in reading) checker.fail('durability', `${who}: after a power loss, ${reading.refused}`);
}

function read(file: StateFile, nodeMayChange: boolean): StateReading {
  try {
    return { reservedUntilMs: file.read(nodeMayChange).reservedUntilMs };
  } catch (err) {
    if (err instanceof StateFileError) return { refused: err.message };
    throw err;
  }
}
