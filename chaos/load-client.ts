import * as fs from 'node:fs';
import { status } from '@grpc/grpc-js';
import type { LoadClientConfig, LoadClientDone } from './lib/messages';
import { mulberry32 } from './lib/random';
import { callRaw, decodeIds, encodeBatchIdsRequest, METHOD, rawClient } from './lib/wire';

/**
 * One load process of chaos/run: `channels` clients, each on its own connection with one call in
 * flight, alternating NextId and small BatchIds against one server for `seconds`. Every ID goes to a
 * binary file; the runner checks them for duplicates.
 */
const config = JSON.parse(process.env.CHAOS_LOAD_CLIENT ?? '') as LoadClientConfig;
const random = mulberry32(config.seed);
const fd = fs.openSync(config.idsFile, 'w');
const CHUNK_IDS = 1 << 16;
let chunk = Buffer.allocUnsafe(CHUNK_IDS * 8);
let inChunk = 0;
const endAtMs = Date.now() + config.seconds * 1000;
const errors: Record<string, number> = {};
const errorExamples: Record<string, string> = {};
const latencies: number[] = [];
const MAX_SAMPLES = 50_000;
let calls = 0;
let okCalls = 0;
let idCount = 0;
const startedAtMs = Date.now();
let slowest = { ms: 0, atS: 0 };

function record(id: bigint): void {
  chunk.writeBigUInt64LE(id, inChunk * 8);
  if (++inChunk === CHUNK_IDS) {
    fs.writeSync(fd, chunk);
    chunk = Buffer.allocUnsafe(CHUNK_IDS * 8);
    inChunk = 0;
  }
}

function decodeOrUndefined(bytes: Buffer): bigint[] | undefined {
  try {
    return decodeIds(bytes);
  } catch {
    return undefined;
  }
}

async function loop(channel: number): Promise<void> {
  const client = rawClient(config.addr);
  try {
    for (let i = 0; Date.now() < endAtMs; i++) {
      const batch = (i + channel) % 2 === 1;
      const count = 1 + Math.floor(random() * 64);
      const started = performance.now();
      const r = batch
        ? await callRaw(client, METHOD.batchIds, encodeBatchIdsRequest(count), config.deadlineMs)
        : await callRaw(client, METHOD.nextId, Buffer.alloc(0), config.deadlineMs);
      const ms = performance.now() - started;
      calls++;
      if (ms > slowest.ms) slowest = { ms, atS: (Date.now() - ms - startedAtMs) / 1000 };
      if (latencies.length < MAX_SAMPLES) latencies.push(ms);
      else if (random() < MAX_SAMPLES / calls) latencies[Math.floor(random() * MAX_SAMPLES)] = ms;
      let failure: [string, string] | undefined;
      if (r.ok) {
        const ids = decodeOrUndefined(r.bytes);
        if (ids?.length === (batch ? count : 1)) {
          okCalls++;
          idCount += ids.length;
          for (const id of ids) record(id);
        } else {
          failure = [
            'MALFORMED_RESPONSE',
            `asked ${batch ? count : 1}, got ${ids?.length ?? 'undecodable'} IDs`,
          ];
        }
      } else {
        failure = [status[r.code], r.details];
      }
      if (failure !== undefined) {
        const [name, details] = failure;
        errors[name] = (errors[name] ?? 0) + 1;
        errorExamples[name] ??= details;
      }
    }
  } finally {
    client.close();
  }
}

void Promise.all(Array.from({ length: config.channels }, (_, c) => loop(c))).then(() => {
  if (inChunk > 0) fs.writeSync(fd, chunk.subarray(0, inChunk * 8));
  fs.closeSync(fd);
  const done: LoadClientDone = {
    type: 'done',
    calls,
    okCalls,
    ids: idCount,
    errors,
    errorExamples,
    latencySampleMs: latencies.sort((a, b) => a - b),
    slowest,
  };
  if (process.connected)
    process.send?.(done, () => {
      process.disconnect();
    });
});
