import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';

type GrpcLabelName = 'grpc_service' | 'grpc_method' | 'grpc_type';

/**
 * Where grpc_server_started_total and grpc_server_handled_total take their values when scraped: the
 * gRPC interceptor counts calls in plain numbers (see grpc-interceptor.ts) and hands them over here.
 */
export interface GrpcCallCounts {
  /** Calls started, per method. */
  started(): Iterable<readonly [LabelValues<GrpcLabelName>, number]>;
  /** Calls completed, per method and status code name. */
  handled(): Iterable<readonly [LabelValues<GrpcLabelName | 'grpc_code'>, number]>;
}

/** The two ports whose connections are counted: gRPC and /metrics (the `listener` label). */
export type ListenerName = 'grpc' | 'metrics';

/** What snowflake_connections and snowflake_connections_rejected_total read for one port at scrape time. */
export interface ListenerStats {
  /** Connections open now. */
  readonly openConnections: number;
  /** Connections closed at once because the port's cap was reached, since start. */
  readonly rejectedConnections: number;
}

/** Every metric the service exports, in one private {@link Registry} (never prom-client's global one). */
export interface Metrics {
  readonly registry: Registry;
  /** snowflake_ids_generated_total: IDs handed out by the generator. */
  readonly idsGenerated: Counter;
  /** snowflake_sequence_exhausted_total: ticks whose sequence ran out, making callers wait. */
  readonly sequenceExhausted: Counter;
  /** snowflake_clock_backwards_total: times the clock was seen to step backwards. */
  readonly clockBackwards: Counter;
  /** snowflake_worker_info{datacenter_id,worker_id}: 1 for the node IDs in use. */
  readonly workerInfo: Gauge<'datacenter_id' | 'worker_id'>;
  /** 1 while the worker-ID claim is held and proven (always 1 for static and ordinal sources). */
  readonly workerLeaseState: Gauge;
  /**
   * snowflake_worker_id_defaulted: 1 when the static source runs on the default worker ID because
   * SNOWFLAKE_WORKER_ID is not set (two such instances issue the same IDs), else 0; set at start.
   */
  readonly workerIdDefaulted: Gauge;
  /** etcd keepalive rounds that failed (no answer, or an error) while the lease was held. */
  readonly leaseKeepaliveFailures: Counter;
  /** snowflake_serving: 1 while the service issues IDs, 0 while it refuses or drains. */
  readonly serving: Gauge;
  /** snowflake_clock_skew_seconds: wall clock minus the monotonic ID time base. */
  readonly clockSkew: Gauge;
  /** snowflake_time_remaining_seconds: time until the layout's timestamp field is used up (set by a collect callback). */
  readonly timeRemaining: Gauge;
  /** snowflake_state_write_failures_total: failed attempts to persist the timestamp reservation. */
  readonly stateWriteFailures: Counter;
  /** snowflake_refusals_total{code}: calls refused because uniqueness could not be guaranteed. */
  readonly refusals: Counter<'code'>;
  /**
   * Sets where grpc_server_started_total and grpc_server_handled_total read their values at scrape
   * time (the server's one gRPC interceptor); until then both are empty.
   */
  readonly useGrpcCallCounts: (counts: GrpcCallCounts) => void;
  /** grpc_server_handling_seconds: RPC latency from start to status, in seconds. */
  readonly grpcHandlingSeconds: Histogram<GrpcLabelName>;
  /**
   * Sets where snowflake_connections{listener} and snowflake_connections_rejected_total{listener} read
   * one port's counts at scrape time; a port appears once it is watched.
   */
  readonly watchListener: (listener: ListenerName, stats: ListenerStats) => void;
  /**
   * Sets where snowflake_grpc_response_backlog_bytes reads the BatchIds response bytes queued for
   * clients that have not read them yet (0 until set).
   */
  readonly watchResponseBacklogBytes: (read: () => number) => void;
}

/** Latency buckets in seconds: 50 µs … 5 s, dense where ID calls land. */
export const HANDLING_SECONDS_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Default Node metrics dropped because their names break Prometheus conventions. */
const NON_CONFORMING_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Creates the registry with Node default metrics and every service metric registered. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges *_total, which Prometheus reserves for counters (promtool flags
  // them). The same numbers remain available per type in nodejs_active_{handles,requests,resources}.
  for (const name of NON_CONFORMING_DEFAULT_METRICS) registry.removeSingleMetric(name);
  const registers = [registry];
  const grpcLabels = ['grpc_service', 'grpc_method', 'grpc_type'] as const;
  let grpcCounts: GrpcCallCounts | undefined;
  new Counter({
    name: 'grpc_server_started_total',
    help: 'Total number of RPCs started on the server.',
    labelNames: grpcLabels,
    registers,
    collect() {
      this.reset();
      for (const [labels, count] of grpcCounts?.started() ?? []) this.inc(labels, count);
    },
  });
  new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: [...grpcLabels, 'grpc_code'],
    registers,
    collect() {
      this.reset();
      for (const [labels, count] of grpcCounts?.handled() ?? []) this.inc(labels, count);
    },
  });
  const listeners = new Map<ListenerName, ListenerStats>();
  new Gauge({
    name: 'snowflake_connections',
    help: 'Connections open now, by port (grpc, metrics).',
    labelNames: ['listener'],
    registers,
    collect() {
      for (const [listener, stats] of listeners) this.set({ listener }, stats.openConnections);
    },
  });
  new Counter({
    name: 'snowflake_connections_rejected_total',
    help: "Connections closed as soon as they were accepted because the port's connection cap was reached.",
    labelNames: ['listener'],
    registers,
    collect() {
      this.reset();
      for (const [listener, stats] of listeners) this.inc({ listener }, stats.rejectedConnections);
    },
  });
  let readBacklogBytes = () => 0;
  new Gauge({
    name: 'snowflake_grpc_response_backlog_bytes',
    help: 'BatchIds response bytes answered but not yet taken by the clients (HTTP/2 flow control), over all connections.',
    registers,
    collect() {
      this.set(readBacklogBytes());
    },
  });
  return {
    registry,
    idsGenerated: new Counter({
      name: 'snowflake_ids_generated_total',
      help: 'IDs handed out by the generator.',
      registers,
    }),
    sequenceExhausted: new Counter({
      name: 'snowflake_sequence_exhausted_total',
      help: 'Ticks whose sequence ran out, so callers waited for the next tick.',
      registers,
    }),
    clockBackwards: new Counter({
      name: 'snowflake_clock_backwards_total',
      help: 'Times the clock was observed to step backwards.',
      registers,
    }),
    workerInfo: new Gauge({
      name: 'snowflake_worker_info',
      help: 'Node IDs this instance stamps into its IDs (value is always 1).',
      labelNames: ['datacenter_id', 'worker_id'],
      registers,
    }),
    workerLeaseState: new Gauge({
      name: 'snowflake_worker_lease_state',
      help: '1 while this instance holds its worker ID and can prove it (etcd lease fence valid), else 0; always 1 for static and ordinal worker IDs.',
      registers,
    }),
    workerIdDefaulted: new Gauge({
      name: 'snowflake_worker_id_defaulted',
      help: '1 when the static worker-ID source uses the default worker ID 0 because SNOWFLAKE_WORKER_ID is not set (two such instances in a datacenter issue the same IDs), else 0.',
      registers,
    }),
    leaseKeepaliveFailures: new Counter({
      name: 'snowflake_worker_lease_keepalive_failures_total',
      help: 'etcd worker-ID lease keepalive rounds that failed; the fence lapses if they keep failing.',
      registers,
    }),
    serving: new Gauge({
      name: 'snowflake_serving',
      help: '1 while the service issues IDs (health SERVING), 0 while it refuses or drains.',
      registers,
    }),
    clockSkew: new Gauge({
      name: 'snowflake_clock_skew_seconds',
      help: 'Wall clock minus the monotonic time base IDs are stamped with, in seconds.',
      registers,
    }),
    timeRemaining: new Gauge({
      name: 'snowflake_time_remaining_seconds',
      help: "Seconds until the layout's timestamp field is used up and no further IDs can be issued.",
      registers,
    }),
    stateWriteFailures: new Counter({
      name: 'snowflake_state_write_failures_total',
      help: 'Failed attempts to persist the timestamp reservation.',
      registers,
    }),
    refusals: new Counter({
      name: 'snowflake_refusals_total',
      help: 'Calls refused with UNAVAILABLE because uniqueness could not be guaranteed, by error code.',
      labelNames: ['code'],
      registers,
    }),
    useGrpcCallCounts(counts) {
      grpcCounts = counts;
    },
    grpcHandlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames: grpcLabels,
      buckets: HANDLING_SECONDS_BUCKETS,
      registers,
    }),
    watchListener(listener, stats) {
      listeners.set(listener, stats);
    },
    watchResponseBacklogBytes(read) {
      readBacklogBytes = read;
    },
  };
}

/** The gRPC port's TLS metrics; registered only when TLS is on (an unset expiry would read as 1970). */
export interface TlsMetrics {
  /** snowflake_tls_reload_failures_total: changed TLS files that could not be used (the previous ones stay served). */
  readonly reloadFailures: Counter;
  /** snowflake_tls_certificate_expiry_timestamp_seconds: earliest notAfter of the served certificate chain, Unix s. */
  readonly certificateExpiry: Gauge;
}

/** Registers the {@link TlsMetrics} in `registry` (the service's private one, from {@link createMetrics}). */
export function createTlsMetrics(registry: Registry): TlsMetrics {
  const registers = [registry];
  return {
    reloadFailures: new Counter({
      name: 'snowflake_tls_reload_failures_total',
      help: 'Changed TLS files of the gRPC port that could not be used (unreadable, not PEM, key not matching, expired); the previous certificate stays served.',
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'snowflake_tls_certificate_expiry_timestamp_seconds',
      help: 'When the certificate chain served on the gRPC port expires (earliest notAfter), as a Unix timestamp in seconds.',
      registers,
    }),
  };
}
