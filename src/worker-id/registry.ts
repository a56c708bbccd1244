import type { WorkerIdSource } from './claim';
import { etcdSource } from './etcd';
import { ordinalSource } from './ordinal';
import type { WorkerIdSourceDeps, WorkerIdSourceRegistration } from './source-registration';
import { staticSource } from './static';

/**
 * Every worker-ID source, one line each, in --help order; the first is the default. Adding a source is a
 * folder with its registration (see `source-registration.ts`) and a line here.
 */
export const WORKER_ID_SOURCES = [staticSource, ordinalSource, etcdSource] as const;

/** The configuration of the selected source: a union discriminated by `source`. */
export type WorkerIdConfig = (typeof WORKER_ID_SOURCES)[number] extends infer R
  ? R extends WorkerIdSourceRegistration<infer C>
    ? C
    : never
  : never;

/**
 * The registration of the source called `name`. Throws for a name no source has, which configuration
 * loading rules out (SNOWFLAKE_WORKER_ID_SOURCE must be one of them).
 */
export function workerIdSourceNamed(name: string): WorkerIdSourceRegistration<WorkerIdConfig> {
  const registration = WORKER_ID_SOURCES.find((r) => r.name === name);
  if (registration === undefined) throw new Error(`no worker-ID source is named ${JSON.stringify(name)}`);
  return registration;
}

/** The source `config` selects, built by its registration. */
export function createWorkerIdSource(config: WorkerIdConfig, deps: WorkerIdSourceDeps): WorkerIdSource {
  return workerIdSourceNamed(config.source).create(config, deps);
}
