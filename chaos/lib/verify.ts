import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { status } from '@grpc/grpc-js';
import type { Life } from './instance';
import type { CallError, ClientConfig } from './messages';
import { IdSet } from './id-set';
import { decomposeId, MAX_ID } from '@snowflake-id/client/contract';
import type { ServerInfo } from './wire';

/** What the clients' files show, checked against the invariants. */
export interface RunVerdict {
  readonly ids: {
    /** IDs received and checked. */
    readonly checked: number;
    readonly okCalls: number;
    /** IDs received more than once (each extra copy counts one). */
    readonly duplicates: number;
    readonly duplicateExamples: readonly string[];
    /** Calls whose IDs were not strictly ascending, or not as many as requested. */
    readonly badCalls: number;
    /** IDs not greater than the previous ID of the same worker in the same client stream. */
    readonly nonMonotonic: number;
    readonly nonMonotonicExamples: readonly string[];
    /** IDs by `datacenter/worker`. */
    readonly byWorker: Readonly<Record<string, number>>;
    /** Oldest and newest timestamp seen, ISO. */
    readonly timestampRange: readonly [string, string] | null;
    /**
     * Calls sent to a process while it was frozen (SIGSTOP) past its etcd lease and answered after it
     * resumed: with the worker ID it had lost (a violation), or with one claimed anew.
     */
    readonly answeredAfterFreeze: { readonly withLostWorker: number; readonly withNewWorker: number };
  };
  readonly errors: {
    /** Failed calls by gRPC code name, cut-by-kill calls excluded. */
    readonly byCode: Readonly<Record<string, number>>;
    /** UNAVAILABLE answers by the service's error code (`transport` when the connection failed). */
    readonly unavailableByReason: Readonly<Record<string, number>>;
    /** Calls in flight when their server was killed with -9, by code name. */
    readonly cutByKill: Readonly<Record<string, number>>;
    /** Calls that overlapped a SIGSTOP of their server, by code name. */
    readonly cutByPause: Readonly<Record<string, number>>;
  };
  readonly metrics: {
    /** Σ of each process's last snowflake_ids_generated_total (final for survivors, pre-kill for killed). */
    readonly countedByServers: number;
    readonly receivedByClients: number;
    /** Processes stopped gracefully, scraped after the clients stopped: exact figures. */
    readonly survivors: {
      readonly generated: number;
      readonly received: number;
      readonly lostInFlight: number;
    };
    /** Processes killed with -9, scraped up to 500 ms before the kill. */
    readonly killed: {
      readonly generatedAtLastScrape: number;
      readonly received: number;
      /** IDs issued after the last scrape and delivered before the kill. */
      readonly issuedAfterLastScrape: number;
      /** IDs counted by the server but never delivered: answers cut by the kill (a lower bound). */
      readonly lostInFlight: number;
    };
    /** Every process whose count differs from what its clients received, with what its failed calls asked for. */
    readonly byLife: readonly {
      readonly life: number;
      readonly instance: string;
      /** True when `counted` was read after the clients stopped (exact), false when before a kill. */
      readonly final: boolean;
      readonly counted: number;
      readonly received: number;
      readonly askedByFailedCalls: number;
    }[];
  };
  /** Every broken invariant, in words; empty when the run passed. */
  readonly violations: string[];
}

/** What {@link verifyRun} reads. */
export interface RunInput {
  readonly clients: readonly ClientConfig[];
  readonly lives: readonly Life[];
  readonly info: ServerInfo;
  readonly runStartMs: number;
  readonly runEndMs: number;
}

/** IDs may carry libfaketime-shifted time; anything further off than this from the run is a bug. */
const TIMESTAMP_SLACK_MS = 120_000;
const EXAMPLES = 10;

/**
 * Reads every client's files and checks: all IDs unique; each call's IDs strictly ascending and as
 * many as requested; per client stream, each worker's IDs increasing from call to call; no answer with
 * a worker ID lost during a freeze; every failure UNAVAILABLE (DEADLINE_EXCEEDED only for calls cut by a
 * kill -9 or a freeze); the servers' counters against what the clients received.
 */
export async function verifyRun(input: RunInput): Promise<RunVerdict> {
  const violations: string[] = [];
  const all = new IdSet();
  const lifeById = new Map(input.lives.map((l) => [l.id, l]));
  const afterFreeze = { withLostWorker: 0, withNewWorker: 0 };
  const lastByStreamNode = new Map<string, bigint>();
  const receivedByLife = new Map<number, number>();
  const countByNode = new Map<number, number>();
  const { sequenceBits, workerBits, datacenterBits } = input.info;
  const nodeShift = BigInt(sequenceBits);
  const nodeMask = (1n << BigInt(datacenterBits + workerBits)) - 1n;
  const nodeName = (node: number) => `${Math.floor(node / 2 ** workerBits)}/${node % 2 ** workerBits}`;
  const nonMonotonicExamples: string[] = [];
  let nonMonotonic = 0;
  let badCalls = 0;
  let okCalls = 0;
  let minTs = Infinity;
  let maxTs = -Infinity;

  for (const client of input.clients) {
    for await (const line of readline.createInterface({ input: fs.createReadStream(client.idsFile) })) {
      const parts = line.split(' ');
      const [stream, seq, life, count, startMs] = parts.slice(0, 5).map(Number) as [
        number,
        number,
        number,
        number,
        number,
      ];
      const ids = parts.slice(5).map(BigInt);
      okCalls++;
      receivedByLife.set(life, (receivedByLife.get(life) ?? 0) + ids.length);
      const ascending = ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0n));
      if (!ascending || ids.length !== count) {
        badCalls++;
        if (badCalls <= EXAMPLES)
          violations.push(
            `client ${client.index} stream ${stream} call ${seq}: asked ${count}, got ${ids.length} IDs` +
              (ascending ? '' : ', not strictly ascending'),
          );
      }
      const signed = ids.find((id) => id > MAX_ID);
      if (signed !== undefined) {
        // Never issued by a correct server; decoding it would throw.
        if (badCalls++ < EXAMPLES)
          violations.push(
            `client ${client.index} stream ${stream} call ${seq}: id ${signed} has the sign bit set`,
          );
        continue;
      }
      const first = ids[0];
      const freeze = lifeById
        .get(life)
        ?.pauses.find((p) => p.leasedWorkerId !== undefined && startMs >= p.fromMs && startMs <= p.toMs);
      if (freeze !== undefined && first !== undefined) {
        // Sent while its process was frozen past its lease, answered after: never with the lost worker ID.
        if (decomposeId(first, input.info).workerId === freeze.leasedWorkerId) {
          if (afterFreeze.withLostWorker++ < EXAMPLES)
            violations.push(
              `client ${client.index} stream ${stream} call ${seq}: life ${life} answered with worker ${freeze.leasedWorkerId} after a freeze longer than its lease`,
            );
        } else afterFreeze.withNewWorker++;
      }
      const lastId = ids.at(-1);
      if (first !== undefined && lastId !== undefined) {
        minTs = Math.min(minTs, decomposeId(first, input.info).timestampMs);
        maxTs = Math.max(maxTs, decomposeId(lastId, input.info).timestampMs);
      }
      // One call's IDs come from one server, usually one node: check the first ID of each node run
      // against the same stream's earlier calls, and remember the last one for the next call.
      const lastOfCall = new Map<number, bigint>();
      let previousNode = -1;
      for (const id of ids) {
        all.add(id);
        const node = Number((id >> nodeShift) & nodeMask);
        countByNode.set(node, (countByNode.get(node) ?? 0) + 1);
        lastOfCall.set(node, id);
        if (node === previousNode) continue;
        previousNode = node;
        const last = lastByStreamNode.get(`${client.index}/${stream}/${node}`);
        if (last !== undefined && id <= last) {
          nonMonotonic++;
          if (nonMonotonicExamples.length < EXAMPLES)
            nonMonotonicExamples.push(
              `client ${client.index} stream ${stream} call ${seq} (life ${life}): worker ${nodeName(node)} id ${id} ≤ earlier ${last}`,
            );
        }
      }
      for (const [node, id] of lastOfCall) {
        const key = `${client.index}/${stream}/${node}`;
        const last = lastByStreamNode.get(key);
        if (last === undefined || id > last) lastByStreamNode.set(key, id);
      }
    }
  }

  const { duplicates, examples } = all.duplicates(EXAMPLES);
  if (duplicates > 0)
    violations.push(`${duplicates} duplicate IDs (e.g. ${examples.map(String).join(', ')})`);
  if (nonMonotonic > 0)
    violations.push(
      `${nonMonotonic} IDs out of order per worker and stream: ${nonMonotonicExamples.join('; ')}`,
    );
  if (minTs < input.runStartMs - TIMESTAMP_SLACK_MS || maxTs > input.runEndMs + TIMESTAMP_SLACK_MS)
    violations.push(
      `ID timestamps ${new Date(minTs).toISOString()} … ${new Date(maxTs).toISOString()} are far from the run`,
    );

  const byWorker = Object.fromEntries(
    [...countByNode].sort(([a], [b]) => a - b).map(([n, c]) => [nodeName(n), c]),
  );
  const { errors, askedByFailedCalls } = await classifyErrors(input, violations);
  const metrics = reconcile(input.lives, receivedByLife, askedByFailedCalls, violations);
  return {
    ids: {
      checked: all.size,
      okCalls,
      duplicates,
      duplicateExamples: examples.map(String),
      badCalls,
      nonMonotonic,
      nonMonotonicExamples,
      byWorker,
      timestampRange: all.size === 0 ? null : [new Date(minTs).toISOString(), new Date(maxTs).toISOString()],
      answeredAfterFreeze: afterFreeze,
    },
    errors,
    metrics,
    violations,
  };
}

/** Sorts the failed calls; also returns, per life, how many IDs the failed calls on it asked for. */
async function classifyErrors(
  input: RunInput,
  violations: string[],
): Promise<{ errors: RunVerdict['errors']; askedByFailedCalls: Map<number, number> }> {
  const lifeById = new Map(input.lives.map((l) => [l.id, l]));
  const byCode: Record<string, number> = {};
  const unavailableByReason: Record<string, number> = {};
  const cutByKill: Record<string, number> = {};
  const cutByPause: Record<string, number> = {};
  const bad: string[] = [];
  const askedByFailedCalls = new Map<number, number>();
  for (const client of input.clients) {
    for await (const line of readline.createInterface({ input: fs.createReadStream(client.errorsFile) })) {
      const e = JSON.parse(line) as CallError;
      const name = e.code === -1 ? 'MALFORMED_RESPONSE' : status[e.code];
      const life = lifeById.get(e.life);
      askedByFailedCalls.set(e.life, (askedByFailedCalls.get(e.life) ?? 0) + e.count);
      // In flight when its server died: started before the kill, ended after it.
      const cut =
        life?.end === 'kill9' &&
        life.endedAtMs !== undefined &&
        e.startMs <= life.endedAtMs &&
        e.endMs >= life.endedAtMs;
      const paused = life?.pauses.some((p) => e.startMs <= p.toMs && e.endMs >= p.fromMs) === true;
      if (cut || paused) {
        const bucket = cut ? cutByKill : cutByPause;
        bucket[name] = (bucket[name] ?? 0) + 1;
        if (e.code !== status.UNAVAILABLE && e.code !== status.DEADLINE_EXCEEDED)
          bad.push(describe(client, e, name));
        continue;
      }
      byCode[name] = (byCode[name] ?? 0) + 1;
      if (e.code === status.UNAVAILABLE) {
        const reason = /^([A-Z_]+): /.exec(e.details)?.[1] ?? 'transport';
        unavailableByReason[reason] = (unavailableByReason[reason] ?? 0) + 1;
      } else {
        bad.push(describe(client, e, name));
      }
    }
  }
  if (bad.length > 0)
    violations.push(
      `${bad.length} calls failed with a status other than UNAVAILABLE: ${bad.slice(0, EXAMPLES).join('; ')}`,
    );
  return { errors: { byCode, unavailableByReason, cutByKill, cutByPause }, askedByFailedCalls };
}

function describe(client: ClientConfig, e: CallError, name: string): string {
  return `client ${client.index} stream ${e.stream} call ${e.seq} (life ${e.life}, ${e.endMs - e.startMs} ms): ${name} ${JSON.stringify(e.details)}`;
}

/**
 * Server counters against IDs received. An ID counted but never received must belong to a failed call
 * (an answer cut by a kill or a freeze, or a batch refused after its first ticks were granted): per
 * process, counted − received ≤ the IDs its failed calls asked for.
 */
function reconcile(
  lives: readonly Life[],
  receivedByLife: ReadonlyMap<number, number>,
  askedByFailedCalls: ReadonlyMap<number, number>,
  violations: string[],
): RunVerdict['metrics'] {
  const survivors = { generated: 0, received: 0, lostInFlight: 0 };
  const killed = { generatedAtLastScrape: 0, received: 0, issuedAfterLastScrape: 0, lostInFlight: 0 };
  const byLife: RunVerdict['metrics']['byLife'][number][] = [];
  let counted = 0;
  let received = 0;
  for (const life of lives) {
    const got = receivedByLife.get(life.id) ?? 0;
    const scraped = life.lastScrape ?? 0;
    counted += scraped;
    received += got;
    const asked = askedByFailedCalls.get(life.id) ?? 0;
    if (scraped - got > asked)
      violations.push(
        `life ${life.id} (${life.instance}): counted ${scraped} IDs, clients received ${got}, but its failed calls asked for only ${asked}`,
      );
    if (scraped !== got)
      byLife.push({
        life: life.id,
        instance: life.instance,
        final: life.scrapeIsFinal,
        counted: scraped,
        received: got,
        askedByFailedCalls: asked,
      });
    if (life.scrapeIsFinal) {
      survivors.generated += scraped;
      survivors.received += got;
      survivors.lostInFlight += scraped - got;
      if (got > scraped)
        violations.push(
          `life ${life.id} (${life.instance}): clients received ${got} IDs but its final counter says ${scraped}`,
        );
    } else {
      killed.generatedAtLastScrape += scraped;
      killed.received += got;
      killed.issuedAfterLastScrape += Math.max(0, got - scraped);
      killed.lostInFlight += Math.max(0, scraped - got);
    }
  }
  return { countedByServers: counted, receivedByClients: received, survivors, killed, byLife };
}
