import { InvalidIdError, InvalidLayoutError } from '../errors';
import { fieldMax, type Layout } from './layout';

/** The (datacenter ID, worker ID) pair a generator stamps into every ID; unique per live instance. */
export interface NodeId {
  /** Datacenter ID; 0…2^datacenterBits − 1. */
  readonly datacenterId: number;
  /** Worker ID; 0…2^workerBits − 1. */
  readonly workerId: number;
}

/** The fields of an ID, as integers. */
export interface IdFields extends NodeId {
  /** Timestamp field: whole time units since the layout's epoch; 0…2^timestampBits − 1. */
  readonly tick: number;
  /** Sequence field; 0…2^sequenceBits − 1. */
  readonly sequence: number;
}

/** An ID split into its fields plus its absolute time. */
export interface DecodedId extends IdFields {
  /** The ID itself. */
  readonly id: bigint;
  /** The ID's timestamp in ms since the Unix epoch: epochMs + tick × timeUnitMs. */
  readonly timestampMs: number;
}

/** Largest ID value with the sign bit clear (2^63 − 1). */
export const MAX_ID = (1n << 63n) - 1n;

/**
 * Packs and unpacks IDs for one {@link Layout}. Never masks: a field that does not fit is an error,
 * because a masked field silently turns into another node's or another tick's ID.
 */
export class IdCodec {
  /** The layout this codec packs for (validated by the caller with `checkLayout`). */
  readonly layout: Layout;
  private readonly sequenceShift: bigint;
  private readonly workerShift: bigint;
  private readonly datacenterShift: bigint;
  private readonly timestampShift: bigint;

  constructor(layout: Layout) {
    this.layout = layout;
    this.sequenceShift = 0n;
    this.workerShift = BigInt(layout.sequenceBits);
    this.datacenterShift = this.workerShift + BigInt(layout.workerBits);
    this.timestampShift = this.datacenterShift + BigInt(layout.datacenterBits);
  }

  /** Throws {@link InvalidLayoutError} unless both node IDs fit their fields. */
  checkNode(node: NodeId): void {
    const { datacenterBits, workerBits } = this.layout;
    if (!fits(node.datacenterId, datacenterBits)) {
      throw new InvalidLayoutError(
        `datacenter ID ${rangeText(node.datacenterId, datacenterBits, 'datacenter')}`,
      );
    }
    if (!fits(node.workerId, workerBits)) {
      throw new InvalidLayoutError(`worker ID ${rangeText(node.workerId, workerBits, 'worker')}`);
    }
  }

  /** The node bits of an ID (datacenter and worker fields in place, everything else 0). */
  nodeBits(node: NodeId): bigint {
    this.checkNode(node);
    return (BigInt(node.datacenterId) << this.datacenterShift) | (BigInt(node.workerId) << this.workerShift);
  }

  /** The ID with these fields; throws RangeError when a field does not fit its width. */
  encode(fields: IdFields): bigint {
    const { timestampBits, sequenceBits } = this.layout;
    if (!fits(fields.tick, timestampBits))
      throw new RangeError(`tick ${rangeText(fields.tick, timestampBits, 'timestamp')}`);
    if (!fits(fields.sequence, sequenceBits)) {
      throw new RangeError(`sequence ${rangeText(fields.sequence, sequenceBits, 'sequence')}`);
    }
    return (BigInt(fields.tick) << this.timestampShift) | this.nodeBits(fields) | BigInt(fields.sequence);
  }

  /** The first ID of `tick` for a node: add a sequence number to it to get an ID. */
  tickBase(tick: number, nodeBits: bigint): bigint {
    return (BigInt(tick) << this.timestampShift) | nodeBits;
  }

  /** Splits an ID; throws {@link InvalidIdError} if it is negative or has the sign bit (bit 63) set. */
  decode(id: bigint): DecodedId {
    if (id < 0n || id > MAX_ID) {
      throw new InvalidIdError(
        `id ${id} has the sign bit set (must be 0 to ${MAX_ID}); it was not issued by this service`,
        { id: String(id), min: '0', max: String(MAX_ID) },
      );
    }
    const { layout } = this;
    const tick = Number(id >> this.timestampShift);
    return {
      id,
      tick,
      datacenterId: Number((id >> this.datacenterShift) & BigInt(fieldMax(layout.datacenterBits))),
      workerId: Number((id >> this.workerShift) & BigInt(fieldMax(layout.workerBits))),
      sequence: Number((id >> this.sequenceShift) & BigInt(fieldMax(layout.sequenceBits))),
      timestampMs: layout.epochMs + tick * layout.timeUnitMs,
    };
  }
}

/** `ms` since the Unix epoch as RFC 3339 UTC with millisecond precision ("2024-05-01T12:00:00.000Z"). */
export function formatRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** True when `value` is an integer that fits an unsigned field of `bits` bits. */
function fits(value: number, bits: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= fieldMax(bits);
}

function rangeText(value: number, bits: number, what: string): string {
  return `must be an integer from 0 to ${fieldMax(bits)} (${bits} ${what} bits); got ${value}`;
}
