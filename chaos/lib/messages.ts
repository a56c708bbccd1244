import type { status } from '@grpc/grpc-js';

/** A service process the chaos clients may call: its life ID (see Life) and gRPC address. */
export interface Target {
  readonly life: number;
  readonly addr: string;
}

/** Runner → client messages over the IPC channel. */
export type ToClient =
  { readonly type: 'targets'; readonly targets: readonly Target[] } | { readonly type: 'stop' };

/** What a chaos client reports when it has stopped (its files are complete by then). */
export interface ClientDone {
  readonly type: 'done';
  readonly calls: number;
  readonly okCalls: number;
  readonly ids: number;
}

/** Settings of one chaos client, passed as JSON in CHAOS_CLIENT. */
export interface ClientConfig {
  readonly index: number;
  /** One line per successful call: `stream seq life count startMs id id …` (IDs in decimal). */
  readonly idsFile: string;
  /** One JSON line per failed call: {@link CallError}. */
  readonly errorsFile: string;
  /** Concurrent call loops; each has one call in flight at a time. */
  readonly streams: number;
  /** Ceiling on IDs requested per second by the whole client. */
  readonly idsPerSecond: number;
  readonly deadlineMs: number;
  readonly maxCount: number;
  readonly seed: number;
}

/** One failed call as a chaos client records it. */
export interface CallError {
  readonly stream: number;
  readonly seq: number;
  readonly life: number;
  readonly count: number;
  /** gRPC status code, or -1 for a response that broke the contract. */
  readonly code: status | -1;
  readonly details: string;
  readonly startMs: number;
  readonly endMs: number;
}

/** Settings of one load client process, passed as JSON in CHAOS_LOAD_CLIENT. */
export interface LoadClientConfig {
  readonly index: number;
  readonly addr: string;
  /** Concurrent clients in this process: one channel (connection) and one call in flight each. */
  readonly channels: number;
  readonly seconds: number;
  readonly deadlineMs: number;
  /** Every ID received, 8 bytes little-endian each. */
  readonly idsFile: string;
  readonly seed: number;
}

/** What a load client reports when done. */
export interface LoadClientDone {
  readonly type: 'done';
  readonly calls: number;
  readonly okCalls: number;
  readonly ids: number;
  /** Failed calls by gRPC code name. */
  readonly errors: Readonly<Record<string, number>>;
  /** One message per failed code name. */
  readonly errorExamples: Readonly<Record<string, string>>;
  /** Call latencies in ms, sorted (a uniform sample of at most 50,000). */
  readonly latencySampleMs: readonly number[];
  /** The slowest call: its latency and when it started, in s from the start of the load. */
  readonly slowest: { readonly ms: number; readonly atS: number };
}
