import * as grpc from '@grpc/grpc-js';
import type { LabelValues } from 'prom-client';
import type { Metrics } from './metrics';

type GrpcLabels = LabelValues<'grpc_service' | 'grpc_method' | 'grpc_type'>;
type NextCall = grpc.ServerInterceptingCallInterface;
type CallListener = Parameters<NextCall['start']>[0];
type Status = Parameters<NextCall['sendStatus']>[0];

/** `unary`, `client_stream`, `server_stream` or `bidi_stream`, as go-grpc-prometheus names them. */
function grpcType(method: grpc.ServerMethodDefinition<unknown, unknown>): string {
  if (method.requestStream) return method.responseStream ? 'bidi_stream' : 'client_stream';
  return method.responseStream ? 'server_stream' : 'unary';
}

/** Status code names as Prometheus label values: OK, INVALID_ARGUMENT, UNAVAILABLE, … */
const CODE_NAMES = new Map<number, string>(
  Object.entries(grpc.status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);

/**
 * One method's call counts as plain numbers: a call adds to them, and a scrape copies them into
 * grpc_server_started_total and grpc_server_handled_total (prom-client hashes the label set on every
 * `inc`, which would cost more per call than the rest of the bookkeeping together).
 */
class MethodTally {
  started = 0;
  /** Completed calls by status code (grpc.status values): every code once initialized, else as calls end. */
  readonly handled = new Map<number, number>();
  readonly seconds: { observe(v: number): void };

  constructor(
    readonly labels: GrpcLabels,
    metrics: Metrics,
  ) {
    this.seconds = metrics.grpcHandlingSeconds.labels(labels);
  }

  finish(code: number, startMs: number): void {
    this.handled.set(code, (this.handled.get(code) ?? 0) + 1);
    this.seconds.observe((performance.now() - startMs) / 1000);
  }
}

/**
 * A call passed on unchanged except that its start and its end (status sent, or cancelled) are counted.
 * It is both the call towards the handler and the listener towards the interceptor chain, one object
 * per call: grpc-js's `ServerInterceptingCall`, which it extends only because a `ServerInterceptor` must
 * return one, would add a responder, a listener wrapper, their closures and a pending-message state
 * machine per call, several µs of CPU on a call whose whole budget is a few µs above an empty handler.
 * The rest (`startRead`, `getPeer`, …) is the parent's plain delegation to the next call.
 */
class MeteredCall extends grpc.ServerInterceptingCall implements CallListener {
  private listener: CallListener | undefined;
  private startMs = 0;
  private done = false;

  constructor(
    private readonly next: NextCall,
    private readonly tally: MethodTally,
  ) {
    super(next);
  }

  override start(listener: CallListener): void {
    this.listener = listener;
    this.tally.started++;
    this.startMs = performance.now();
    this.next.start(this);
  }

  override sendMetadata(metadata: grpc.Metadata): void {
    this.next.sendMetadata(metadata);
  }

  override sendMessage(message: unknown, callback: () => void): void {
    this.next.sendMessage(message, callback);
  }

  override sendStatus(status: Status): void {
    this.finish(status.code);
    this.next.sendStatus(status);
  }

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.listener?.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.listener?.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    this.listener?.onReceiveHalfClose();
  }

  /**
   * grpc-js calls this after every status it sent, and instead of a status when the client went away or
   * the deadline passed (it then answers DEADLINE_EXCEEDED itself, past the interceptors).
   */
  onCancel(): void {
    if (!this.done) {
      const deadline = this.next.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
      this.finish(deadlineMs <= Date.now() ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED);
    }
    this.listener?.onCancel();
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    this.tally.finish(code, this.startMs);
  }
}

/** The server-side gRPC metrics: the interceptor that counts calls, and the scrape-time copy. */
export interface GrpcServerMetrics {
  /** Add to the server's `interceptors`: counts every call of every service on the server. */
  readonly interceptor: grpc.ServerInterceptor;
  /**
   * Creates the started, latency and handled series of `methods`, the latter for every status code, with
   * value 0, so dashboards and alerts see them before the first call (as go-grpc-prometheus's
   * InitializeMetrics does); a counter first exported at 1 would hide that first call from `increase()`.
   */
  initialize(methods: Iterable<grpc.ServerMethodDefinition<unknown, unknown>>): void;
}

/**
 * grpc_server_started_total, grpc_server_handled_total and grpc_server_handling_seconds for every method
 * of every service on the server, as go-grpc-prometheus and nice-grpc name them. Counts are kept as plain
 * numbers per method and copied into `metrics`' counters when the registry is scraped; latency goes to
 * the histogram child of the method, resolved once.
 */
export function grpcServerMetrics(metrics: Metrics): GrpcServerMetrics {
  const tallies = new Map<string, MethodTally>();
  const tallyOf = (method: grpc.ServerMethodDefinition<unknown, unknown>): MethodTally => {
    let tally = tallies.get(method.path);
    if (tally === undefined) {
      tally = new MethodTally(labelsOf(method), metrics);
      tallies.set(method.path, tally);
    }
    return tally;
  };
  metrics.useGrpcCallCounts({
    *started() {
      for (const tally of tallies.values()) yield [tally.labels, tally.started] as const;
    },
    *handled() {
      for (const tally of tallies.values()) {
        for (const [code, count] of tally.handled) {
          yield [{ ...tally.labels, grpc_code: CODE_NAMES.get(code) ?? String(code) }, count] as const;
        }
      }
    },
  });
  return {
    interceptor: (method, call) => new MeteredCall(call, tallyOf(method)),
    initialize(methods) {
      for (const method of methods) {
        const tally = tallyOf(method);
        for (const code of CODE_NAMES.keys()) if (!tally.handled.has(code)) tally.handled.set(code, 0);
        if (tally.started === 0) metrics.grpcHandlingSeconds.zero(tally.labels);
      }
    },
  };
}

function labelsOf(method: grpc.ServerMethodDefinition<unknown, unknown>): GrpcLabels {
  const [, service = '', name = ''] = method.path.split('/');
  return { grpc_service: service, grpc_method: name, grpc_type: grpcType(method) };
}
