import { DEFAULT_LAYOUT, fieldMax, type Layout } from './layout';

/** The (datacenter ID, worker ID) pair a server stamps into every ID; unique per live instance. */
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

/** Names and field widths of the four fields, for checks and their messages. */
const FIELDS = {
  tick: { label: 'tick', bits: 'timestampBits', what: 'timestamp' },
  datacenterId: { label: 'datacenter ID', bits: 'datacenterBits', what: 'datacenter' },
  workerId: { label: 'worker ID', bits: 'workerBits', what: 'worker' },
  sequence: { label: 'sequence', bits: 'sequenceBits', what: 'sequence' },
} as const satisfies Record<keyof IdFields, { label: string; bits: keyof Layout; what: string }>;

/**
 * Why `value` cannot be the `field` of an ID under `layout` (not an integer, negative, or wider than the
 * field), e.g. "worker ID must be an integer from 0 to 31 (5 worker bits); got 32"; undefined when it fits.
 */
export function fieldProblem(layout: Layout, field: keyof IdFields, value: number): string | undefined {
  const { label, bits, what } = FIELDS[field];
  const max = fieldMax(layout[bits]);
  if (Number.isInteger(value) && value >= 0 && value <= max) return undefined;
  return `${label} must be an integer from 0 to ${max} (${layout[bits]} ${what} bits); got ${value}`;
}

/**
 * The ID with these fields under `layout` (default {@link DEFAULT_LAYOUT}). Never masks: throws
 * RangeError (see {@link fieldProblem}) when a field does not fit its width.
 */
export function composeId(fields: IdFields, layout: Layout = DEFAULT_LAYOUT): bigint {
  for (const field of ['tick', 'datacenterId', 'workerId', 'sequence'] as const) {
    const problem = fieldProblem(layout, field, fields[field]);
    if (problem !== undefined) throw new RangeError(problem);
  }
  const { sequenceBits, workerBits, datacenterBits } = layout;
  return (
    (((((BigInt(fields.tick) << BigInt(datacenterBits)) | BigInt(fields.datacenterId)) <<
      BigInt(workerBits)) |
      BigInt(fields.workerId)) <<
      BigInt(sequenceBits)) |
    BigInt(fields.sequence)
  );
}

/**
 * Splits `id` into its fields under `layout` (default {@link DEFAULT_LAYOUT}), offline. Throws RangeError
 * unless 0 ≤ id ≤ {@link MAX_ID} (an ID with the sign bit set was never issued).
 */
export function decomposeId(id: bigint, layout: Layout = DEFAULT_LAYOUT): DecodedId {
  if (id < 0n || id > MAX_ID) {
    throw new RangeError(
      `id ${id} has the sign bit set (must be 0 to ${MAX_ID}); it was not issued by this service`,
    );
  }
  const take = (shift: number, bits: number) => Number((id >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
  const { sequenceBits, workerBits, datacenterBits } = layout;
  const tick = Number(id >> BigInt(sequenceBits + workerBits + datacenterBits));
  return {
    id,
    tick,
    datacenterId: take(sequenceBits + workerBits, datacenterBits),
    workerId: take(sequenceBits, workerBits),
    sequence: take(0, sequenceBits),
    timestampMs: layout.epochMs + tick * layout.timeUnitMs,
  };
}
