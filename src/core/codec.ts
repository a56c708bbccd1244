import { composeId, decomposeId, fieldProblem, MAX_ID } from '@snowflake-id/client/contract';
import type { DecodedId, IdFields, Layout, NodeId } from '@snowflake-id/client/contract';
import { InvalidIdError, InvalidLayoutError } from './errors';

// The ID's fields and their pure bigint packing are part of the contract (clients decode offline).
export { MAX_ID, type DecodedId, type IdFields, type NodeId } from '@snowflake-id/client/contract';

/**
 * Packs and unpacks IDs for one {@link Layout}. Never masks: a field that does not fit is an error,
 * because a masked field silently turns into another node's or another tick's ID.
 */
export class IdCodec {
  /** The layout this codec packs for (validated by the caller with `checkLayout`). */
  readonly layout: Layout;

  constructor(layout: Layout) {
    this.layout = layout;
  }

  /** Throws {@link InvalidLayoutError} unless both node IDs fit their fields. */
  checkNode(node: NodeId): void {
    for (const field of ['datacenterId', 'workerId'] as const) {
      const problem = fieldProblem(this.layout, field, node[field]);
      if (problem !== undefined) throw new InvalidLayoutError(problem);
    }
  }

  /** The node bits of an ID (datacenter and worker fields in place, everything else 0). */
  nodeBits(node: NodeId): bigint {
    this.checkNode(node);
    return composeId({ ...node, tick: 0, sequence: 0 }, this.layout);
  }

  /**
   * The ID with these fields; throws {@link InvalidLayoutError} when a node ID does not fit its width,
   * RangeError when the tick or sequence does not.
   */
  encode(fields: IdFields): bigint {
    this.checkNode(fields);
    return composeId(fields, this.layout);
  }

  /** The first ID of `tick` for a node: add a sequence number to it to get an ID. */
  tickBase(tick: number, nodeBits: bigint): bigint {
    return composeId({ tick, datacenterId: 0, workerId: 0, sequence: 0 }, this.layout) | nodeBits;
  }

  /** Splits an ID; throws {@link InvalidIdError} if it is negative or has the sign bit (bit 63) set. */
  decode(id: bigint): DecodedId {
    try {
      return decomposeId(id, this.layout);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new InvalidIdError(err.message, { id: String(id), min: '0', max: String(MAX_ID) });
    }
  }
}

/** `ms` since the Unix epoch as RFC 3339 UTC with millisecond precision ("2024-05-01T12:00:00.000Z"). */
export function formatRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
