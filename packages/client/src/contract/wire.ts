/**
 * Protobuf wire-format primitives for the hand-written codecs of this contract: a cursor over message
 * bytes that reads varints, length-delimited values and skips unknown fields, throwing RangeError
 * (prefixed with the message's name) on anything that is not valid wire format.
 */
export class WireReader {
  /** The bytes read. */
  readonly bytes: Uint8Array;
  /** Offset of the next byte to read. */
  at = 0;
  private readonly message: string;

  /** `message`: the message type's name, for error texts (e.g. `BatchIdsResponse`). */
  constructor(bytes: Uint8Array, message: string) {
    this.bytes = bytes;
    this.message = message;
  }

  /** True while bytes remain. */
  get more(): boolean {
    return this.at < this.bytes.length;
  }

  /** A RangeError saying what is wrong with the message. */
  error(what: string): RangeError {
    return new RangeError(`${this.message}: ${what}`);
  }

  /** Reads a varint of at most 10 bytes as a number (exact up to 2^53; larger values only need skipping). */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = this.bytes[this.at++];
      if (b === undefined) throw this.error('truncated varint');
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw this.error('varint longer than 10 bytes');
  }

  /** Reads a varint as protobuf `int32` does: its low 32 bits, signed. */
  int32(): number {
    const start = this.at;
    this.varint();
    let low = 0;
    for (let i = 0; i < 5 && start + i < this.at; i++)
      low += ((this.bytes[start + i] ?? 0) & 0x7f) * 2 ** (7 * i);
    return low | 0;
  }

  /** Reads a field key: its field number (≥ 1) and wire type. */
  key(): { field: number; wireType: number } {
    const key = this.varint();
    if (key < 8) throw this.error(`invalid field number 0 at byte ${this.at}`);
    return { field: Math.floor(key / 8), wireType: key % 8 };
  }

  /** Reads a length-delimited value (wire type 2) and returns a view of its bytes. */
  lengthDelimited(): Uint8Array {
    const length = this.varint();
    const end = this.at + length;
    if (end > this.bytes.length) throw this.error('truncated field');
    const value = this.bytes.subarray(this.at, end);
    this.at = end;
    return value;
  }

  /** Skips the value of an unknown field of `wireType` (groups, deprecated, are refused). */
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.at += 8;
    else if (wireType === 2) {
      const length = this.varint();
      this.at += length;
    } else if (wireType === 5) this.at += 4;
    else throw this.error(`unsupported wire type ${wireType}`);
    if (this.at > this.bytes.length) throw this.error('truncated field');
  }
}

/** Bytes of `v` (a non-negative safe integer) as a varint. */
export function varintSize(v: number): number {
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/** Appends `v` (an unsigned 64-bit value) as a varint to `out`. */
export function writeVarint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}
