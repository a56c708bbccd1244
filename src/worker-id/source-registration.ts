import type { Logger } from 'pino';
import type { Layout } from '../core/layout';
import type { Env, EnvValues, EnvVariable } from '../env-variable';
import type { Timers } from '../timers';
import type { WorkerIdSource } from './claim';

/** What a source reports while it holds claims, for metrics: each hook runs synchronously and must not throw. */
export interface WorkerIdSourceHooks {
  /** After every renewal round of a held claim's lease (sources with leases); `ok` is false when it failed. */
  keepalive?(event: { readonly ok: boolean }): void;
}

/** What every source factory gets besides its configuration: clock, timers, logger and metric hooks. */
export interface WorkerIdSourceDeps {
  /** Monotonic clock in ms: the one `WorkerIdClaim.safeUntilMs` is compared with. */
  readonly monotonicNowMs: () => number;
  /** Timers on the same clock: retry backoff, lease renewal rounds, call timeouts. */
  readonly timers: Timers;
  /** Where claims, losses and retries are logged. */
  readonly logger: Logger;
  /** Metric hooks; none by default. */
  readonly hooks?: WorkerIdSourceHooks;
}

/** What a source's parser gets besides its own variables: the environment and the settings it builds on. */
export interface SourceParseContext {
  /** The whole environment (e.g. to refuse SNOWFLAKE_WORKER_ID where the source supplies the worker ID). */
  readonly env: Env;
  /** The ID layout; it may be invalid (another problem then says so), so parsers must not rely on it. */
  readonly layout: Layout;
  /** SNOWFLAKE_DATACENTER_ID (range-checked against the layout by the caller). */
  readonly datacenterId: number;
  /** SNOWFLAKE_WORKER_ID, 0 when unset (range-checked against the layout by the caller). */
  readonly workerId: number;
  /** Records a problem: one line naming the variable, its value and what is allowed. */
  readonly problem: (message: string) => void;
  /** Records a remark that is logged at WARN at boot; the configuration is still used. */
  readonly warn: (message: string) => void;
  /** How the value of variable `name` appears in a message: quoted, credentials redacted, secrets hidden. */
  readonly shown: (name: string, value: string | undefined) => string;
}

/** What every source's configuration holds: which source it is, and the datacenter its claims are in. */
export interface WorkerIdSourceConfig {
  /** The source's `SNOWFLAKE_WORKER_ID_SOURCE` value: the discriminant of the configuration union. */
  readonly source: string;
  /** SNOWFLAKE_DATACENTER_ID: every claim is in this datacenter, and GetInfo reports it before the first. */
  readonly datacenterId: number;
}

/**
 * One worker-ID source as the rest of the service sees it: its name, its environment variables, how they
 * become its typed configuration `C`, and how that becomes a {@link WorkerIdSource}. Listed in
 * `registry.ts`; built with {@link defineWorkerIdSource}.
 */
export interface WorkerIdSourceRegistration<C extends WorkerIdSourceConfig> {
  /** The `SNOWFLAKE_WORKER_ID_SOURCE` value that selects it. */
  readonly name: C['source'];
  /** Where its worker ID comes from, for the `SNOWFLAKE_WORKER_ID_SOURCE` line of --help. */
  readonly summary: string;
  /**
   * Its own entries of the configuration table (--help, the README table, parsing): read only with this
   * source, refused when set with another one.
   */
  readonly variables: Readonly<Record<string, EnvVariable>>;
  /**
   * Its configuration from `values` (its own variables, parsed by their schemas, defaults applied) and
   * the context; undefined after recording a problem.
   */
  parse(values: Readonly<Record<string, unknown>>, context: SourceParseContext): C | undefined;
  /** The source for a configuration `parse` returned. */
  create(config: C, deps: WorkerIdSourceDeps): WorkerIdSource;
}

/**
 * A {@link WorkerIdSourceRegistration} whose parser receives its variables typed by their schemas.
 */
export function defineWorkerIdSource<
  C extends WorkerIdSourceConfig,
  const V extends Readonly<Record<string, EnvVariable>>,
>(definition: {
  readonly name: C['source'];
  readonly summary: string;
  readonly variables: V;
  parse(values: EnvValues<V>, context: SourceParseContext): C | undefined;
  create(config: C, deps: WorkerIdSourceDeps): WorkerIdSource;
}): WorkerIdSourceRegistration<C> {
  return {
    name: definition.name,
    summary: definition.summary,
    variables: definition.variables,
    // The configuration parses exactly these variables with these schemas before calling the parser.
    parse: (values, context) => definition.parse(values as EnvValues<V>, context),
    create: (config, deps) => definition.create(config, deps),
  };
}
