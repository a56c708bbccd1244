import * as path from 'node:path';
import { MAX_BATCH_SIZE_LIMIT } from '@snowflake-id/client/contract';
import { z } from 'zod';
import { closestName } from './closest-name';
import { integer, text, type Env, type EnvValues, type EnvVariable, type VariableDoc } from './env-variable';
import { InvalidConfigError, InvalidLayoutError } from './errors';
import { REDACTED, redactCredentials } from './redact';
import {
  checkLayout,
  DEFAULT_LAYOUT,
  fieldMax,
  layoutEndMs,
  MAX_TIME_UNIT_MS,
  type Layout,
  type LayoutFieldNames,
} from './core/layout';
import { WORKER_ID_SOURCES, workerIdSourceNamed, type WorkerIdConfig } from './worker-id/registry';

export type { VariableDoc } from './env-variable';

/** Default SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: how often the TLS files are re-read, in ms. */
export const DEFAULT_TLS_RELOAD_INTERVAL_MS = 10_000;

/** Largest SNOWFLAKE_GRPC_BACKLOG_MIB accepted: 1 GiB. */
export const MAX_BACKLOG_MIB = 1024;

/** Largest SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB accepted: 16 GiB. */
export const MAX_TOTAL_BACKLOG_MIB = 16_384;

const MIB = 2 ** 20;

/** pino log levels accepted by SNOWFLAKE_LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Everything the service needs to boot; produced only by {@link loadConfig}, so always valid. */
export interface Config {
  /** gRPC listen address, `host:port` (port 0 = any free port). */
  readonly grpcAddr: string;
  /** Prometheus /metrics listen address, `host:port` (port 0 = any free port). */
  readonly metricsAddr: string;
  /** ID layout: epoch, time unit and field widths. */
  readonly layout: Layout;
  /**
   * Where the worker ID comes from (SNOWFLAKE_WORKER_ID_SOURCE) and that source's settings: a union
   * discriminated by `source`, one member per registered source (see `worker-id/registry.ts`).
   */
  readonly workerId: WorkerIdConfig;
  /** TLS on the gRPC port; absent means plaintext. */
  readonly tls?: TlsConfig;
  /** Largest BatchIds count accepted; 1…100,000. */
  readonly maxBatchSize: number;
  /** What gRPC clients may hold of this process: connections, streams, response backlog. */
  readonly grpcLimits: GrpcLimits;
  /** Most /metrics connections open at once, 1…10,000; more are closed as soon as they are accepted. */
  readonly metricsMaxConnections: number;
  /** Longest clock step backwards that is waited out instead of refused, in ms; 0…10,000. */
  readonly maxClockBackwardsMs: number;
  /** pino log level. */
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Longest a graceful shutdown may take before in-flight calls are cut, in ms; 1…600,000. */
  readonly shutdownTimeoutMs: number;
  /** Largest |wall clock − ID time base| served, in ms; 1…3,600,000. */
  readonly maxClockSkewMs: number;
  /** Absolute path of the directory holding the state file and its lock. */
  readonly stateDir: string;
  /** How far ahead of the clock each persisted timestamp reservation reaches, in ms; 100…60,000. */
  readonly reservationMs: number;
  /** Longest the service waits at start for the clock to pass the persisted reservation, in ms; 0…3,600,000. */
  readonly maxStartupWaitMs: number;
}

/**
 * Resource limits of the gRPC port (SNOWFLAKE_GRPC_*), so that no client, however slow or numerous, can
 * take the descriptors or the memory that the state file and the other clients need.
 */
export interface GrpcLimits {
  /** Most connections open at once, 1…1,000,000; more are closed as soon as they are accepted. */
  readonly maxConnections: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: most calls open at once on one connection, 1…100,000. */
  readonly maxConcurrentStreams: number;
  /**
   * A connection's response backlog: most BatchIds answer bytes it may have waiting (answered, but not
   * yet taken by its HTTP/2 flow-control window), 1 MiB…1 GiB (1 MiB exceeds the largest answer, 100,000
   * IDs); a BatchIds that would exceed it is refused with RESOURCE_EXHAUSTED (RESPONSE_BACKLOG_FULL).
   */
  readonly maxBacklogBytesPerConnection: number;
  /**
   * The same bound over all connections together, from maxBacklogBytesPerConnection to 16 GiB; a
   * connection may still fill its share (maxBacklogBytes ÷ maxConnections) when the total is reached,
   * so the backlog stays below twice this.
   */
  readonly maxBacklogBytes: number;
}

/**
 * TLS on the gRPC port (SNOWFLAKE_TLS_*): the server certificate and key, and with `clientCaFile` mutual
 * TLS. The files are re-read every `reloadIntervalMs` so a rotated certificate is served without a restart.
 */
export interface TlsConfig {
  /** PEM certificate chain, leaf first. */
  readonly certFile: string;
  /** PEM private key of the leaf certificate (unencrypted). */
  readonly keyFile: string;
  /** PEM CA bundle; when present, clients must present a certificate it signed (mTLS). */
  readonly clientCaFile?: string;
  /** How often the files are re-read, in ms; 100…3,600,000, default 10,000. */
  readonly reloadIntervalMs: number;
}

const ADDR_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const address = text('host:port with port 0 to 65535').refine((v) => {
  const m = ADDR_RE.exec(v);
  return m !== null && Number(m[2]) <= 65_535;
}, 'must be host:port (IPv6 in brackets, e.g. [::1]:50051) with port 0 to 65535');

const epoch = text('an ISO 8601 date-time (e.g. 2020-01-01T00:00:00Z) or Unix time in ms').transform(
  (v, ctx) => {
    const ms = parseEpoch(v);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          'must be an ISO 8601 date or date-time with offset (e.g. 2020-01-01T00:00:00Z) or whole Unix ms',
      });
      return z.NEVER;
    }
    return ms;
  },
);

const SOURCE_NAMES: readonly string[] = WORKER_ID_SOURCES.map((s) => s.name);

/** The variables of the service itself; each worker-ID source brings its own (see {@link VARIABLES}). */
const GENERAL_VARIABLES = {
  SNOWFLAKE_GRPC_ADDR: {
    doc: { defaultValue: '0.0.0.0:50051', allowed: 'host:port', description: 'gRPC listen address' },
    schema: address,
  },
  SNOWFLAKE_METRICS_ADDR: {
    doc: {
      defaultValue: '0.0.0.0:9464',
      allowed: 'host:port',
      description: 'Prometheus GET /metrics listen address',
    },
    schema: address,
  },
  SNOWFLAKE_TLS_CERT_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a PEM file path, with SNOWFLAKE_TLS_KEY_FILE',
      description:
        'server certificate chain (leaf first) for TLS on the gRPC port; unset = plaintext. Re-read when it changes',
    },
    schema: z.string(),
  },
  SNOWFLAKE_TLS_KEY_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a PEM file path (unencrypted key), with SNOWFLAKE_TLS_CERT_FILE',
      description: 'private key of SNOWFLAKE_TLS_CERT_FILE; re-read with it',
    },
    schema: z.string(),
  },
  SNOWFLAKE_TLS_CLIENT_CA_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a PEM file path, with SNOWFLAKE_TLS_CERT_FILE and SNOWFLAKE_TLS_KEY_FILE',
      description:
        'CA bundle for mutual TLS: when set, every client must present a certificate it signed. Re-read when it changes',
    },
    schema: z.string(),
  },
  SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: {
    doc: {
      defaultValue: String(DEFAULT_TLS_RELOAD_INTERVAL_MS),
      allowed: '100 to 3600000, with SNOWFLAKE_TLS_CERT_FILE',
      description:
        'how often the TLS files are re-read; a changed, valid set is served to new connections, a bad one is refused and the previous kept',
    },
    schema: integer(100, 3_600_000),
  },
  SNOWFLAKE_HEALTHCHECK_CERT_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a PEM file path, with SNOWFLAKE_HEALTHCHECK_KEY_FILE and SNOWFLAKE_TLS_CLIENT_CA_FILE',
      description:
        'client certificate dist/healthcheck.js presents under mutual TLS; unset = SNOWFLAKE_TLS_CERT_FILE (it must then allow client auth)',
    },
    schema: z.string(),
  },
  SNOWFLAKE_HEALTHCHECK_KEY_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a PEM file path, with SNOWFLAKE_HEALTHCHECK_CERT_FILE',
      description: 'private key of SNOWFLAKE_HEALTHCHECK_CERT_FILE',
    },
    schema: z.string(),
  },
  SNOWFLAKE_HEALTHCHECK_CA_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a PEM file path, with SNOWFLAKE_TLS_CERT_FILE',
      description:
        "CA dist/healthcheck.js verifies the server's certificate with; unset = not verified (the probe dials its own container)",
    },
    schema: z.string(),
  },
  SNOWFLAKE_HEALTHCHECK_SERVER_NAME: {
    doc: {
      defaultValue: 'localhost',
      allowed: 'a DNS name the server certificate carries, with SNOWFLAKE_HEALTHCHECK_CA_FILE',
      description: 'name dist/healthcheck.js expects in the server certificate when it verifies it',
    },
    schema: z.string().min(1),
  },
  SNOWFLAKE_DATACENTER_ID: {
    doc: {
      defaultValue: '0',
      allowed: '0 to 2^DATACENTER_BITS − 1',
      description: 'datacenter ID stamped into IDs',
    },
    schema: integer(0, fieldMax(31)),
  },
  SNOWFLAKE_WORKER_ID: {
    doc: { defaultValue: '0', allowed: '0 to 2^WORKER_BITS − 1', description: 'worker ID stamped into IDs' },
    schema: integer(0, fieldMax(31)),
  },
  SNOWFLAKE_WORKER_ID_SOURCE: {
    doc: {
      defaultValue: WORKER_ID_SOURCES[0].name,
      allowed: SOURCE_NAMES.join(', '),
      description: WORKER_ID_SOURCES.map((s) => `${s.name}: ${s.summary}`).join('; '),
    },
    schema: z.string().refine((v) => SOURCE_NAMES.includes(v), `must be one of ${SOURCE_NAMES.join(', ')}`),
  },
  SNOWFLAKE_EPOCH: {
    doc: {
      defaultValue: new Date(DEFAULT_LAYOUT.epochMs).toISOString(),
      allowed: 'ISO 8601 or Unix ms, not in the future',
      description: 'start of time for the timestamp field',
    },
    schema: epoch,
  },
  SNOWFLAKE_TIMESTAMP_BITS: {
    doc: {
      defaultValue: String(DEFAULT_LAYOUT.timestampBits),
      allowed: '1 to 63',
      description: 'width of the timestamp field',
    },
    schema: integer(1, 63),
  },
  SNOWFLAKE_DATACENTER_BITS: {
    doc: {
      defaultValue: String(DEFAULT_LAYOUT.datacenterBits),
      allowed: '0 to 31',
      description: 'width of the datacenter ID field',
    },
    schema: integer(0, 31),
  },
  SNOWFLAKE_WORKER_BITS: {
    doc: {
      defaultValue: String(DEFAULT_LAYOUT.workerBits),
      allowed: '0 to 31',
      description: 'width of the worker ID field',
    },
    schema: integer(0, 31),
  },
  SNOWFLAKE_SEQUENCE_BITS: {
    doc: {
      defaultValue: String(DEFAULT_LAYOUT.sequenceBits),
      allowed: '0 to 31',
      description: 'width of the sequence field (IDs per tick = 2^bits)',
    },
    schema: integer(0, 31),
  },
  SNOWFLAKE_TIME_UNIT_MS: {
    doc: {
      defaultValue: String(DEFAULT_LAYOUT.timeUnitMs),
      allowed: `1 to ${MAX_TIME_UNIT_MS}`,
      description: 'length of one timestamp tick in ms',
    },
    schema: integer(1, MAX_TIME_UNIT_MS),
  },
  SNOWFLAKE_MAX_BATCH_SIZE: {
    doc: {
      defaultValue: '10000',
      allowed: `1 to ${MAX_BATCH_SIZE_LIMIT}`,
      description: 'largest BatchIds count',
    },
    schema: integer(1, MAX_BATCH_SIZE_LIMIT),
  },
  SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS: {
    doc: {
      defaultValue: '10',
      allowed: '0 to 10000',
      description:
        'clock steps back up to this many ms are waited out; larger ones are refused (UNAVAILABLE)',
    },
    schema: integer(0, 10_000),
  },
  SNOWFLAKE_LOG_LEVEL: {
    doc: { defaultValue: 'info', allowed: LOG_LEVELS.join(', '), description: 'pino log level' },
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  },
  SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: {
    doc: {
      defaultValue: '10000',
      allowed: '1 to 600000',
      description: 'on SIGTERM/SIGINT, how long in-flight calls may take before they are cut',
    },
    schema: integer(1, 600_000),
  },
  SNOWFLAKE_GRPC_MAX_CONNECTIONS: {
    doc: {
      defaultValue: '512',
      allowed: '1 to 1000000; with SNOWFLAKE_METRICS_MAX_CONNECTIONS at most the open-file limit − 64',
      description:
        'most gRPC connections open at once; more are closed as soon as they are accepted, so that descriptors remain for the state file',
    },
    schema: integer(1, 1_000_000),
  },
  SNOWFLAKE_GRPC_MAX_STREAMS: {
    doc: {
      defaultValue: '100',
      allowed: '1 to 100000',
      description: 'most calls open at once on one gRPC connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)',
    },
    schema: integer(1, 100_000),
  },
  SNOWFLAKE_GRPC_BACKLOG_MIB: {
    doc: {
      defaultValue: '4',
      allowed: `1 to ${MAX_BACKLOG_MIB}`,
      description:
        'MiB of BatchIds answers one gRPC connection may have waiting because its client does not read them; a BatchIds beyond that is refused (RESOURCE_EXHAUSTED, RESPONSE_BACKLOG_FULL) before any ID is issued',
    },
    schema: integer(1, MAX_BACKLOG_MIB),
  },
  SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB: {
    doc: {
      defaultValue: '64',
      allowed: `SNOWFLAKE_GRPC_BACKLOG_MIB to ${MAX_TOTAL_BACKLOG_MIB}`,
      description:
        'the same over all gRPC connections; a connection may still fill its share (this ÷ SNOWFLAKE_GRPC_MAX_CONNECTIONS), so that many slow connections cannot starve one that reads; the total stays below twice this',
    },
    schema: integer(1, MAX_TOTAL_BACKLOG_MIB),
  },
  SNOWFLAKE_METRICS_MAX_CONNECTIONS: {
    doc: {
      defaultValue: '16',
      allowed: '1 to 10000',
      description:
        'most /metrics connections open at once; more are closed as soon as they are accepted (idle ones close after 5 s, silent ones after 10 s)',
    },
    schema: integer(1, 10_000),
  },
  SNOWFLAKE_MAX_CLOCK_SKEW_MS: {
    doc: {
      defaultValue: '1000',
      allowed: '1 to 3600000',
      description:
        'wall clock vs monotonic ID time base: within this, serve (warn); wall ahead by more, jump forward; wall behind by more, refuse until it catches up',
    },
    schema: integer(1, 3_600_000),
  },
  SNOWFLAKE_STATE_DIR: {
    doc: {
      defaultValue: 'state',
      allowed: 'a writable directory path (relative to the working directory)',
      description: 'where the timestamp reservation is persisted (and locked) so restarts never repeat IDs',
    },
    schema: text('a directory path').transform((v) => path.resolve(v)),
  },
  SNOWFLAKE_RESERVATION_MS: {
    doc: {
      defaultValue: '2000',
      allowed: '100 to 60000',
      description:
        'how far ahead of the clock each persisted timestamp reservation reaches (renewed at half)',
    },
    schema: integer(100, 60_000),
  },
  SNOWFLAKE_MAX_STARTUP_WAIT_MS: {
    doc: {
      defaultValue: '60000',
      allowed: '0 to 3600000',
      description:
        'at start, wait (listening, NOT_SERVING) up to this long for the clock to pass the persisted reservation and for the first reservation write to succeed, else exit 1; with the etcd source a worker ID is claimed first: an unreachable etcd is retried until this long after the start (calls refused with STARTING), then exit 1',
    },
    schema: integer(0, 3_600_000),
  },
} as const satisfies Record<string, EnvVariable>;

/**
 * Every variable the service reads, in --help order: the general ones, with each worker-ID source's own
 * variables after SNOWFLAKE_WORKER_ID_SOURCE.
 */
const VARIABLES: Readonly<Record<string, EnvVariable>> = Object.fromEntries(
  Object.entries<EnvVariable>(GENERAL_VARIABLES).flatMap(([name, variable]): [string, EnvVariable][] => [
    [name, variable],
    ...(name === 'SNOWFLAKE_WORKER_ID_SOURCE'
      ? WORKER_ID_SOURCES.flatMap((source) => Object.entries(source.variables))
      : []),
  ]),
);

const LAYOUT_VARIABLES: LayoutFieldNames = {
  epochMs: 'SNOWFLAKE_EPOCH',
  timeUnitMs: 'SNOWFLAKE_TIME_UNIT_MS',
  timestampBits: 'SNOWFLAKE_TIMESTAMP_BITS',
  datacenterBits: 'SNOWFLAKE_DATACENTER_BITS',
  workerBits: 'SNOWFLAKE_WORKER_BITS',
  sequenceBits: 'SNOWFLAKE_SEQUENCE_BITS',
};

/** Every environment variable the service reads, in --help order. */
export const VARIABLE_DOCS: readonly VariableDoc[] = Object.entries(VARIABLES).map(([name, v]) => ({
  name,
  ...v.doc,
}));

/** Result of {@link loadConfig}: the config plus non-fatal remarks to log. */
export interface LoadedConfig {
  readonly config: Config;
  /** e.g. that the static worker ID defaulted to 0 (see `StaticWorkerIdConfig.defaulted`); logged at WARN at boot. */
  readonly warnings: readonly string[];
}

/**
 * SNOWFLAKE_* variables read by other programs of this package, accepted (and ignored) by the service
 * so one environment can serve them all.
 */
export const OTHER_PROGRAMS_VARIABLES: Readonly<Record<string, string>> = {
  SNOWFLAKE_HEALTHCHECK_ADDR: 'dist/healthcheck.js',
  SNOWFLAKE_ADDR: 'the snowflake CLI',
};

/**
 * Validates the environment and builds the {@link Config}. `nowMs` (Unix ms) is used to reject an epoch
 * in the future and a layout whose time range is already used up. Throws {@link InvalidConfigError}
 * listing every bad variable, its value and what is allowed — including every unknown SNOWFLAKE_*
 * variable (with the closest known name: a typo must not silently fall back to a default) and TLS files
 * that cannot be read.
 */
export function loadConfig(env: Env, nowMs: number): LoadedConfig {
  const problems: string[] = unknownVariables(env);
  const raw: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(VARIABLES)) {
    const value = env[name] ?? v.doc.defaultValue;
    const parsed = v.schema.safeParse(value);
    if (parsed.success) raw[name] = parsed.data;
    else
      problems.push(`${name}=${shown(name, value)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) throw configError(problems);

  // Every variable parsed without a problem, so each holds its schema's output.
  const values = raw as EnvValues<typeof GENERAL_VARIABLES>;
  const layout: Layout = {
    epochMs: values.SNOWFLAKE_EPOCH,
    timeUnitMs: values.SNOWFLAKE_TIME_UNIT_MS,
    timestampBits: values.SNOWFLAKE_TIMESTAMP_BITS,
    datacenterBits: values.SNOWFLAKE_DATACENTER_BITS,
    workerBits: values.SNOWFLAKE_WORKER_BITS,
    sequenceBits: values.SNOWFLAKE_SEQUENCE_BITS,
  };
  try {
    checkLayout(layout, LAYOUT_VARIABLES);
  } catch (err) {
    if (!(err instanceof InvalidLayoutError)) throw err;
    problems.push(err.message);
  }
  if (layout.epochMs > nowMs) {
    problems.push(
      `SNOWFLAKE_EPOCH=${shown('SNOWFLAKE_EPOCH', env.SNOWFLAKE_EPOCH)}: must not be in the future ` +
        `(it is ${new Date(layout.epochMs).toISOString()}, now is ${new Date(nowMs).toISOString()})`,
    );
  } else if (problems.length === 0 && layoutEndMs(layout) <= nowMs) {
    problems.push(
      `SNOWFLAKE_EPOCH/SNOWFLAKE_TIMESTAMP_BITS/SNOWFLAKE_TIME_UNIT_MS: the ID range ended at ` +
        `${new Date(layoutEndMs(layout)).toISOString()}; choose a later epoch or more timestamp bits`,
    );
  }
  const warnings: string[] = [];
  const workerId = workerIdConfig(env, values, raw, layout, problems, warnings);
  const tls = resolveTls(env, values, problems);
  for (const [name, bitsName, value, bits] of [
    [
      'SNOWFLAKE_DATACENTER_ID',
      'SNOWFLAKE_DATACENTER_BITS',
      values.SNOWFLAKE_DATACENTER_ID,
      layout.datacenterBits,
    ],
    ['SNOWFLAKE_WORKER_ID', 'SNOWFLAKE_WORKER_BITS', values.SNOWFLAKE_WORKER_ID, layout.workerBits],
  ] as const) {
    if (value > fieldMax(bits)) {
      problems.push(
        `${name}=${shown(name, env[name])}: must be an integer from 0 to ${fieldMax(bits)} (${bitsName}=${bits})`,
      );
    }
  }
  if (values.SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB < values.SNOWFLAKE_GRPC_BACKLOG_MIB) {
    problems.push(
      `SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB=${JSON.stringify(env.SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB)}: must be at least ` +
        `SNOWFLAKE_GRPC_BACKLOG_MIB (${values.SNOWFLAKE_GRPC_BACKLOG_MIB})`,
    );
  }
  if (problems.length > 0 || workerId === undefined) throw configError(problems);

  return {
    config: {
      grpcAddr: values.SNOWFLAKE_GRPC_ADDR,
      metricsAddr: values.SNOWFLAKE_METRICS_ADDR,
      layout,
      workerId,
      ...(tls !== undefined && { tls }),
      maxBatchSize: values.SNOWFLAKE_MAX_BATCH_SIZE,
      grpcLimits: {
        maxConnections: values.SNOWFLAKE_GRPC_MAX_CONNECTIONS,
        maxConcurrentStreams: values.SNOWFLAKE_GRPC_MAX_STREAMS,
        maxBacklogBytesPerConnection: values.SNOWFLAKE_GRPC_BACKLOG_MIB * MIB,
        maxBacklogBytes: values.SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB * MIB,
      },
      metricsMaxConnections: values.SNOWFLAKE_METRICS_MAX_CONNECTIONS,
      maxClockBackwardsMs: values.SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS,
      logLevel: values.SNOWFLAKE_LOG_LEVEL,
      shutdownTimeoutMs: values.SNOWFLAKE_SHUTDOWN_TIMEOUT_MS,
      maxClockSkewMs: values.SNOWFLAKE_MAX_CLOCK_SKEW_MS,
      stateDir: values.SNOWFLAKE_STATE_DIR,
      reservationMs: values.SNOWFLAKE_RESERVATION_MS,
      maxStartupWaitMs: values.SNOWFLAKE_MAX_STARTUP_WAIT_MS,
    },
    warnings,
  };
}

/**
 * The selected worker-ID source's configuration, parsed by its registration; records a problem for each
 * variable of another source that is set (it would be silently ignored). Undefined after a problem.
 */
function workerIdConfig(
  env: Env,
  values: EnvValues<typeof GENERAL_VARIABLES>,
  raw: Readonly<Record<string, unknown>>,
  layout: Layout,
  problems: string[],
  warnings: string[],
): WorkerIdConfig | undefined {
  const selected = workerIdSourceNamed(values.SNOWFLAKE_WORKER_ID_SOURCE);
  for (const other of WORKER_ID_SOURCES) {
    if (other === selected) continue;
    for (const name of Object.keys(other.variables)) {
      if (env[name] !== undefined) {
        problems.push(
          `${name}: only used with SNOWFLAKE_WORKER_ID_SOURCE=${other.name}; remove it or set the source`,
        );
      }
    }
  }
  const own = Object.fromEntries(Object.keys(selected.variables).map((name) => [name, raw[name]]));
  return selected.parse(own, {
    env,
    layout,
    datacenterId: values.SNOWFLAKE_DATACENTER_ID,
    workerId: values.SNOWFLAKE_WORKER_ID,
    problem: (message) => problems.push(message),
    warn: (message) => warnings.push(message),
    shown,
  });
}

/**
 * One problem per SNOWFLAKE_* variable that neither this service, another program of the package
 * ({@link OTHER_PROGRAMS_VARIABLES}) nor Kubernetes' service links account for, naming the closest
 * known variable.
 */
function unknownVariables(env: Env): string[] {
  const known = [...Object.keys(VARIABLES), ...Object.keys(OTHER_PROGRAMS_VARIABLES)];
  return Object.entries(env)
    .filter(
      ([name, value]) =>
        name.startsWith('SNOWFLAKE_') && !known.includes(name) && !isKubernetesServiceVariable(name, value),
    )
    .map(
      ([name]) =>
        `${name}: unknown variable (did you mean ${closestName(name, known)}?); every SNOWFLAKE_* ` +
        'variable must be one this service reads, so a misspelt one cannot fall back to a default unnoticed',
    );
}

/**
 * Kubernetes' service links for a Service named "snowflake" or "snowflake-…": NAME_SERVICE_HOST,
 * NAME_SERVICE_PORT[_PORTNAME] and NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]; plus NAME_PORT, told
 * apart from a misspelt variable (SNOWFLAKE_GRPC_PORT=50051) by its value, `tcp://10.0.0.1:50051`.
 */
function isKubernetesServiceVariable(name: string, value: string | undefined): boolean {
  return (
    /^SNOWFLAKE(_\w+?)?_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$/.test(
      name,
    ) ||
    (/^SNOWFLAKE(_\w+?)?_PORT$/.test(name) && /^(tcp|udp|sctp):\/\//.test(value ?? ''))
  );
}

/** Names of the variables whose values are secrets (never shown, never logged). */
export const SECRET_VARIABLES: readonly string[] = Object.entries(VARIABLES)
  .filter(([, v]) => v.secret === true)
  .map(([name]) => name);

/**
 * How the value of variable `name` appears in a message: quoted, with URL credentials redacted, and
 * {@link REDACTED} for a secret variable whatever its value.
 */
function shown(name: string, value: string | undefined): string {
  if (SECRET_VARIABLES.includes(name)) return REDACTED;
  return value === undefined ? 'undefined' : JSON.stringify(redactCredentials(value));
}

/**
 * TLS on the gRPC port when SNOWFLAKE_TLS_CERT_FILE and SNOWFLAKE_TLS_KEY_FILE are set. Records a problem
 * (and returns undefined) when one comes without the other, or when a variable that only matters with
 * TLS (client CA, reload interval) or with mTLS (the health check's client certificate) is set without
 * it. The files themselves are checked when the server starts (see grpc/tls.ts).
 */
function resolveTls(
  env: Env,
  values: {
    SNOWFLAKE_TLS_CERT_FILE: string;
    SNOWFLAKE_TLS_KEY_FILE: string;
    SNOWFLAKE_TLS_CLIENT_CA_FILE: string;
    SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: number;
    SNOWFLAKE_HEALTHCHECK_CERT_FILE: string;
    SNOWFLAKE_HEALTHCHECK_KEY_FILE: string;
    SNOWFLAKE_HEALTHCHECK_CA_FILE: string;
  },
  problems: string[],
): TlsConfig | undefined {
  const { SNOWFLAKE_TLS_CERT_FILE: certFile, SNOWFLAKE_TLS_KEY_FILE: keyFile } = values;
  const clientCaFile = values.SNOWFLAKE_TLS_CLIENT_CA_FILE;
  const before = problems.length;
  if ((certFile === '') !== (keyFile === '')) {
    problems.push(
      'SNOWFLAKE_TLS_CERT_FILE/SNOWFLAKE_TLS_KEY_FILE: give both (TLS on the gRPC port) or neither',
    );
  } else if (certFile === '') {
    if (clientCaFile !== '') {
      problems.push(
        'SNOWFLAKE_TLS_CLIENT_CA_FILE: only used with SNOWFLAKE_TLS_CERT_FILE and SNOWFLAKE_TLS_KEY_FILE (mutual TLS needs TLS)',
      );
    }
    if (env.SNOWFLAKE_TLS_RELOAD_INTERVAL_MS !== undefined) {
      problems.push(
        'SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: only used with SNOWFLAKE_TLS_CERT_FILE; remove it or turn TLS on',
      );
    }
  }
  const { SNOWFLAKE_HEALTHCHECK_CERT_FILE: checkCert, SNOWFLAKE_HEALTHCHECK_KEY_FILE: checkKey } = values;
  if ((checkCert === '') !== (checkKey === '')) {
    problems.push('SNOWFLAKE_HEALTHCHECK_CERT_FILE/SNOWFLAKE_HEALTHCHECK_KEY_FILE: give both or neither');
  } else if (checkCert !== '' && clientCaFile === '') {
    problems.push(
      'SNOWFLAKE_HEALTHCHECK_CERT_FILE: only used with SNOWFLAKE_TLS_CLIENT_CA_FILE (the health check presents a client certificate only under mutual TLS)',
    );
  }
  if (values.SNOWFLAKE_HEALTHCHECK_CA_FILE !== '' && certFile === '') {
    problems.push(
      'SNOWFLAKE_HEALTHCHECK_CA_FILE: only used with SNOWFLAKE_TLS_CERT_FILE (the health check verifies a TLS server)',
    );
  }
  if (env.SNOWFLAKE_HEALTHCHECK_SERVER_NAME !== undefined && values.SNOWFLAKE_HEALTHCHECK_CA_FILE === '') {
    problems.push(
      'SNOWFLAKE_HEALTHCHECK_SERVER_NAME: only used with SNOWFLAKE_HEALTHCHECK_CA_FILE (the name is checked only when the certificate is verified)',
    );
  }
  if (problems.length > before || certFile === '') return undefined;
  return {
    certFile,
    keyFile,
    ...(clientCaFile !== '' && { clientCaFile }),
    reloadIntervalMs: values.SNOWFLAKE_TLS_RELOAD_INTERVAL_MS,
  };
}

/** The `host` and `port` of a validated `host:port` address, brackets removed from IPv6 hosts. */
export function splitAddress(addr: string): { host: string; port: number } {
  const m = ADDR_RE.exec(addr);
  if (m === null) throw new InvalidConfigError(`not a host:port address: ${addr}`);
  const host = m[1] as string;
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(m[2]) };
}

/** Text printed by `--help`: every variable with its default and allowed values. */
export function helpText(): string {
  const rows = VARIABLE_DOCS.map(
    (d) => `  ${d.name.padEnd(34)} default ${d.defaultValue.padEnd(22)} ${d.description} (${d.allowed})`,
  );
  return [
    'Usage: node dist/main.js [--help]',
    '',
    'Serves unique, time-sortable 64-bit snowflake IDs over gRPC. Configured only by environment variables:',
    ...rows,
    '',
    'A bad value stops the process at boot with exit code 1 and a message naming the variable, and so does',
    'an unknown SNOWFLAKE_* variable (naming the closest known one). Accepted but not read by the service:',
    ...Object.entries(OTHER_PROGRAMS_VARIABLES).map(
      ([name, reader]) => `  ${name.padEnd(34)} read by ${reader}`,
    ),
    `  ${'SNOWFLAKE[_NAME]_SERVICE_*, _PORT*'.padEnd(34)} injected by Kubernetes for a Service snowflake[-name]`,
    'With the static source and SNOWFLAKE_WORKER_ID unset, the default worker 0 is used: logged at WARN and',
    'exported as snowflake_worker_id_defaulted 1, because two such instances issue the same IDs.',
  ].join('\n');
}

function configError(problems: string[]): InvalidConfigError {
  return new InvalidConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Unix ms from whole-number text or a strict ISO 8601 date / date-time (offset required); undefined if invalid. */
function parseEpoch(value: string): number | undefined {
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  const m = ISO_RE.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', zone = 'Z'] = m;
  const parts = [
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number(frac.padEnd(3, '0')),
  ] as const;
  const local = Date.UTC(...parts);
  const t = new Date(local);
  const roundTrips =
    t.getUTCFullYear() === parts[0] &&
    t.getUTCMonth() === parts[1] &&
    t.getUTCDate() === parts[2] &&
    t.getUTCHours() === parts[3] &&
    t.getUTCMinutes() === parts[4] &&
    t.getUTCSeconds() === parts[5];
  if (!roundTrips) return undefined;
  if (zone === 'Z') return local;
  const sign = zone.startsWith('-') ? -1 : 1;
  const offsetMin = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6));
  return local - sign * offsetMin * 60_000;
}
