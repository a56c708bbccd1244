import type { DecodeResult, ServerInfo } from '../id-client';

/**
 * What a command prints about one thing: the same camelCase keys in text (`key: value`, one per line)
 * and in JSON (one object per line). 64-bit values are decimal strings, never JSON numbers.
 */
export type OutputRecord = Readonly<Record<string, string | number>>;

/** `records` as text (blocks separated by an empty line) or JSON (one object per line). */
export function formatRecords(records: readonly OutputRecord[], json: boolean): string {
  if (json) return records.map((r) => `${JSON.stringify(r)}\n`).join('');
  return records
    .map((r) =>
      Object.entries(r)
        .map(([key, value]) => `${key}: ${value}\n`)
        .join(''),
    )
    .join('\n');
}

/** The fields of a decoded ID. */
export function decodeRecord(d: DecodeResult): OutputRecord {
  return {
    id: d.id.toString(),
    timestamp: d.timestamp,
    timestampMs: String(d.timestampMs),
    datacenterId: d.datacenterId,
    workerId: d.workerId,
    sequence: d.sequence,
  };
}

/** A server's GetInfo; its JSON is what `decode --local --layout FILE` reads. */
export function infoRecord(i: ServerInfo): OutputRecord {
  return {
    address: i.address,
    epoch: new Date(i.epochMs).toISOString(),
    epochMs: String(i.epochMs),
    timeUnitMs: i.timeUnitMs,
    timestampBits: i.timestampBits,
    datacenterBits: i.datacenterBits,
    workerBits: i.workerBits,
    sequenceBits: i.sequenceBits,
    datacenterId: i.datacenterId,
    workerId: i.workerId,
    maxBatchSize: i.maxBatchSize,
  };
}
