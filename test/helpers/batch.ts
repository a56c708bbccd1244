import type { IdSource } from '../../src/engine/issuer';

/** `count` IDs from `issuer.batchInto` (what BatchIds sends), read back from the fixed64 bytes it wrote. */
export async function batchOf(
  issuer: IdSource,
  count: number,
  isCancelled?: () => boolean,
): Promise<bigint[]> {
  const out = new DataView(new ArrayBuffer(count * 8));
  await issuer.batchInto(count, out, 0, isCancelled);
  return Array.from({ length: count }, (_, i) => out.getBigUint64(i * 8, true));
}
