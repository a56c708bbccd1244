import * as fs from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { callRaw, decodeIds, encodeBatchIdsRequest, METHOD, rawClient } from './lib/wire';
import type { CallError, ClientConfig, ClientDone, Target, ToClient } from './lib/messages';
import { mulberry32 } from './lib/random';

/**
 * A chaos client (a child process of chaos/run): `streams` loops each doing one BatchIds at a time
 * against the current targets, round-robin, until told to stop. Every ID goes to a file in decimal,
 * every failure with its gRPC code to another; the runner checks both afterwards.
 */
const config = JSON.parse(process.env.CHAOS_CLIENT ?? '') as ClientConfig;
const random = mulberry32(config.seed);
const idsFd = fs.openSync(config.idsFile, 'w');
const errorsFd = fs.openSync(config.errorsFile, 'w');
let pending: string[] = [];
let pendingChars = 0;

function write(line: string): void {
  pending.push(line);
  pendingChars += line.length;
  if (pendingChars > 1 << 20) flush();
}

function flush(): void {
  if (pending.length > 0) fs.writeSync(idsFd, pending.join(''));
  pending = [];
  pendingChars = 0;
}

let targets: readonly Target[] = [];
const clients = new Map<number, grpc.Client>();
let stopping = false;
/** Read through a call so that the compiler does not narrow it across awaits. */
const stopRequested = () => stopping;
let calls = 0;
let okCalls = 0;
let idCount = 0;

// The runner went away without saying stop: finish anyway rather than call forever.
process.on('disconnect', () => {
  stopping = true;
});

process.on('message', (msg: ToClient) => {
  if (msg.type === 'stop') {
    stopping = true;
    return;
  }
  targets = msg.targets;
  const wanted = new Set(msg.targets.map((t) => t.life));
  for (const [life, client] of clients) {
    if (wanted.has(life)) continue;
    clients.delete(life);
    // Calls still in flight end by their deadline; close the channel after that.
    setTimeout(() => {
      client.close();
    }, config.deadlineMs + 1000).unref();
  }
});

/** A batch size: mostly small, sometimes thousands (several ms of one server's sequence space). */
function pickCount(): number {
  const r = random();
  if (r < 0.8) return 1 + Math.floor(random() * 200);
  if (r < 0.95) return 200 + Math.floor(random() * 1800);
  return 2000 + Math.floor(random() * (config.maxCount - 2000 + 1));
}

let nextSlotMs = Date.now();

/** Paces the client to `idsPerSecond` (IDs requested, not received): each call books its share of time. */
async function pace(count: number): Promise<void> {
  const now = Date.now();
  const slotMs = Math.max(now, nextSlotMs);
  nextSlotMs = slotMs + (count * 1000) / config.idsPerSecond;
  if (slotMs > now) await sleep(slotMs - now);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function stream(index: number): Promise<void> {
  let rr = index;
  for (let seq = 0; !stopping; seq++) {
    const target = targets.length === 0 ? undefined : targets[rr++ % targets.length];
    if (target === undefined) {
      await sleep(50);
      continue;
    }
    let client = clients.get(target.life);
    if (client === undefined) {
      client = rawClient(target.addr);
      clients.set(target.life, client);
    }
    const count = pickCount();
    await pace(count);
    if (stopRequested()) break;
    const startMs = Date.now();
    const r = await callRaw(client, METHOD.batchIds, encodeBatchIdsRequest(count), config.deadlineMs);
    calls++;
    let error: Pick<CallError, 'code' | 'details'> | undefined;
    if (r.ok) {
      try {
        const ids = decodeIds(r.bytes);
        write(`${index} ${seq} ${target.life} ${count} ${startMs} ${ids.join(' ')}\n`);
        okCalls++;
        idCount += ids.length;
      } catch (err) {
        error = { code: -1, details: `malformed response: ${String(err)}` };
      }
    } else {
      error = { code: r.code, details: r.details };
    }
    if (error !== undefined) {
      const record: CallError = {
        stream: index,
        seq,
        life: target.life,
        count,
        ...error,
        startMs,
        endMs: Date.now(),
      };
      fs.writeSync(errorsFd, `${JSON.stringify(record)}\n`);
      // A refusing or dead server answers at once: back off a little rather than spin on it.
      await sleep(20 + random() * 30);
    }
  }
}

void Promise.all(Array.from({ length: config.streams }, (_, i) => stream(i))).then(() => {
  flush();
  fs.closeSync(idsFd);
  fs.closeSync(errorsFd);
  for (const client of clients.values()) client.close();
  const done: ClientDone = { type: 'done', calls, okCalls, ids: idCount };
  if (process.connected)
    process.send?.(done, () => {
      process.disconnect();
    });
});
