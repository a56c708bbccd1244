/**
 * Append-only store of 64-bit IDs in typed-array chunks (8 bytes per ID, no per-ID object), with a
 * duplicate count by sorting: tens of millions of IDs fit where a Set<bigint> would not (~16.7 M max).
 */
export class IdSet {
  private static readonly CHUNK = 1 << 20;
  private readonly chunks: BigUint64Array[] = [];
  private current = new BigUint64Array(IdSet.CHUNK);
  private used = 0;

  /** IDs added (duplicates included). */
  get size(): number {
    return this.chunks.length * IdSet.CHUNK + this.used;
  }

  add(id: bigint): void {
    if (this.used === IdSet.CHUNK) {
      this.chunks.push(this.current);
      this.current = new BigUint64Array(IdSet.CHUNK);
      this.used = 0;
    }
    this.current[this.used++] = id;
  }

  /** Adds `count` little-endian 64-bit IDs from `bytes` starting at `offset`. */
  addLittleEndian(bytes: Buffer, offset: number, count: number): void {
    for (let i = 0; i < count; i++) this.add(bytes.readBigUInt64LE(offset + i * 8));
  }

  /** How many IDs repeat an earlier one, and up to `maxExamples` of the repeated values. */
  duplicates(maxExamples: number): { duplicates: number; examples: bigint[] } {
    const all = new BigUint64Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    all.set(this.current.subarray(0, this.used), at);
    all.sort();
    let duplicates = 0;
    const examples: bigint[] = [];
    for (let i = 1; i < all.length; i++) {
      if (all[i] !== all[i - 1]) continue;
      duplicates++;
      const id = all[i] ?? 0n;
      if (examples.length < maxExamples && examples.at(-1) !== id) examples.push(id);
    }
    return { duplicates, examples };
  }
}
