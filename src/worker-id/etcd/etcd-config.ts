import * as fs from 'node:fs';
import { z } from 'zod';
import { layoutEndMs } from '../../core/layout';
import { integer, type EnvValues } from '../../env-variable';
import type { SourceParseContext, WorkerIdSourceConfig } from '../source-registration';
import { DEFAULT_ETCD_PREFIX, DEFAULT_LEASE_TTL_SECONDS, MAX_LEASE_TTL_SECONDS } from './etcd-limits';
import type { EtcdConnectionOptions } from './etcd3-adapter';

/** The etcd source's configuration (SNOWFLAKE_ETCD_*): where etcd is, and what to claim there. */
export interface EtcdWorkerIdConfig extends WorkerIdSourceConfig, EtcdConnectionOptions {
  readonly source: 'etcd';
  /** Client URLs, `http://host:port` or `https://host:port`; at least one. */
  readonly endpoints: readonly string[];
  /** Key prefix, starting and ending with `/`; default `/snowflake/`. */
  readonly prefix: string;
  /** Lease TTL in seconds, 1…86,400; default 10. */
  readonly leaseTtlSeconds: number;
  /** PEM files for TLS, checked readable at load: CA, and optionally a client certificate and key (together). */
  readonly tls?: { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string };
  /** etcd user/password authentication. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** SNOWFLAKE_WORKER_BITS: worker IDs 0 … 2^workerBits − 1 of the datacenter are claimed. */
  readonly workerBits: number;
  /** End of the ID layout's time range (Unix ms): a reservation in etcd beyond it is corrupt, not used. */
  readonly maxReservationMs: number;
}

const ETCD_URL_RE = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** The etcd source's variables, in --help order. */
export const ETCD_VARIABLES = {
  SNOWFLAKE_ETCD_ENDPOINTS: {
    doc: {
      defaultValue: '',
      allowed: 'comma-separated http(s)://host:port URLs; required with SNOWFLAKE_WORKER_ID_SOURCE=etcd',
      description: 'etcd client URLs for worker-ID leases',
    },
    schema: z
      .string()
      .refine(
        (v) => v === '' || v.split(',').every((u) => ETCD_URL_RE.test(u.trim())),
        'must be a comma-separated list of http://host:port or https://host:port URLs',
      ),
  },
  SNOWFLAKE_ETCD_PREFIX: {
    doc: {
      defaultValue: DEFAULT_ETCD_PREFIX,
      allowed: 'a key prefix starting and ending with /',
      description: 'etcd keys live under PREFIX + dc/<datacenter>/worker/<id> and …/reservation/<id>',
    },
    schema: z.string().regex(/^\/(.*\/)?$/, 'must start and end with / (e.g. /snowflake/)'),
  },
  SNOWFLAKE_ETCD_LEASE_TTL_S: {
    doc: {
      defaultValue: String(DEFAULT_LEASE_TTL_SECONDS),
      allowed: `1 to ${MAX_LEASE_TTL_SECONDS}`,
      description:
        'worker-ID lease TTL in s: a crashed instance frees its ID after this; IDs stop ttl/5 (≥ 1 s) before an unrenewed lease can expire',
    },
    schema: integer(1, MAX_LEASE_TTL_SECONDS),
  },
  SNOWFLAKE_ETCD_CA_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a readable PEM file path',
      description: 'CA bundle that signed the etcd server certificates (TLS); https endpoints',
    },
    schema: z.string(),
  },
  SNOWFLAKE_ETCD_CERT_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a readable PEM file path, with SNOWFLAKE_ETCD_KEY_FILE and SNOWFLAKE_ETCD_CA_FILE',
      description: 'client certificate for etcd client-certificate auth',
    },
    schema: z.string(),
  },
  SNOWFLAKE_ETCD_KEY_FILE: {
    doc: {
      defaultValue: '',
      allowed: 'a readable PEM file path, with SNOWFLAKE_ETCD_CERT_FILE',
      description: 'private key of SNOWFLAKE_ETCD_CERT_FILE',
    },
    schema: z.string(),
  },
  SNOWFLAKE_ETCD_USERNAME: {
    doc: {
      defaultValue: '',
      allowed: 'an etcd user name, with SNOWFLAKE_ETCD_PASSWORD',
      description: 'etcd user for password authentication',
    },
    schema: z.string(),
  },
  SNOWFLAKE_ETCD_PASSWORD: {
    doc: {
      defaultValue: '',
      allowed: 'the password of SNOWFLAKE_ETCD_USERNAME',
      description: 'etcd password (never logged)',
    },
    schema: z.string(),
    secret: true,
  },
} as const;

/**
 * The etcd source's configuration from its variables. Records a problem (and returns undefined) when
 * endpoints are missing, SNOWFLAKE_WORKER_ID is also set, TLS/auth variables come without their partner,
 * or a TLS file cannot be read.
 */
export function parseEtcdConfig(
  values: EnvValues<typeof ETCD_VARIABLES>,
  { env, layout, datacenterId, problem }: SourceParseContext,
): EtcdWorkerIdConfig | undefined {
  const problems: string[] = [];
  const fail = (message: string) => problems.push(message);
  if (env.SNOWFLAKE_WORKER_ID !== undefined) {
    fail(
      'SNOWFLAKE_WORKER_ID: must not be set with SNOWFLAKE_WORKER_ID_SOURCE=etcd (the worker ID is claimed from etcd)',
    );
  }
  const endpoints = values.SNOWFLAKE_ETCD_ENDPOINTS.split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (endpoints.length === 0) {
    fail(
      'SNOWFLAKE_ETCD_ENDPOINTS: required with SNOWFLAKE_WORKER_ID_SOURCE=etcd (e.g. http://etcd-0:2379,http://etcd-1:2379)',
    );
  }
  const { SNOWFLAKE_ETCD_CA_FILE: caFile, SNOWFLAKE_ETCD_CERT_FILE: certFile } = values;
  const { SNOWFLAKE_ETCD_KEY_FILE: keyFile, SNOWFLAKE_ETCD_USERNAME: username } = values;
  const password = values.SNOWFLAKE_ETCD_PASSWORD;
  if ((certFile === '') !== (keyFile === '')) {
    fail('SNOWFLAKE_ETCD_CERT_FILE/SNOWFLAKE_ETCD_KEY_FILE: give both (client-certificate auth) or neither');
  }
  if (certFile !== '' && caFile === '') {
    fail('SNOWFLAKE_ETCD_CA_FILE: required with SNOWFLAKE_ETCD_CERT_FILE (TLS client-certificate auth)');
  }
  if ((username === '') !== (password === '')) {
    fail('SNOWFLAKE_ETCD_USERNAME/SNOWFLAKE_ETCD_PASSWORD: give both (password auth) or neither');
  }
  for (const [name, file] of [
    ['SNOWFLAKE_ETCD_CA_FILE', caFile],
    ['SNOWFLAKE_ETCD_CERT_FILE', certFile],
    ['SNOWFLAKE_ETCD_KEY_FILE', keyFile],
  ] as const) {
    const unreadable = file === '' ? undefined : whyUnreadable(file);
    if (unreadable !== undefined) {
      fail(`${name}=${JSON.stringify(file)}: ${unreadable}; must be a readable PEM file`);
    }
  }
  if (problems.length > 0) {
    problems.forEach(problem);
    return undefined;
  }
  return {
    source: 'etcd',
    datacenterId,
    endpoints,
    prefix: values.SNOWFLAKE_ETCD_PREFIX,
    leaseTtlSeconds: values.SNOWFLAKE_ETCD_LEASE_TTL_S,
    ...(caFile !== '' && {
      tls: { caFile, ...(certFile !== '' && { certFile, keyFile }) },
    }),
    ...(username !== '' && { auth: { username, password } }),
    workerBits: layout.workerBits,
    maxReservationMs: layoutEndMs(layout),
  };
}

/** Why `file` cannot be read as a regular file (missing, a directory, no permission), or undefined if it can. */
function whyUnreadable(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    return fs.fstatSync(fd).isFile() ? undefined : 'not a regular file';
  } catch (err) {
    return `cannot read it (${(err as Error).message})`;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
