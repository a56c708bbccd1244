import { readFile } from 'node:fs/promises';
import { isBrokenCircuitError, noop } from 'cockatiel';
import {
  castGrpcError,
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type IKeyValue,
  type ILeaseKeepAliveResponse,
  type IOptions,
  type ITxnResponse,
} from 'etcd3';
import { CoordinationDataError, CoordinationError, InvalidConfigError } from '../../errors';
import { redactCredentials, urlSecrets } from '../../redact';
import {
  EtcdLeaseNotFoundError,
  type EtcdClaimTxn,
  type EtcdClaimTxnResult,
  type EtcdGuardedRead,
  type EtcdGuardedWrite,
  type EtcdGuardedWriteTxn,
  type EtcdHolderGuard,
  type EtcdKv,
  type EtcdPort,
} from './etcd-port';

/**
 * Deadline in ms of the calls etcd3 makes on its own (authentication before the first call); every call
 * of the port carries its own deadline.
 */
const OWN_CALL_TIMEOUT_MS = 5000;

/** TLS material for etcd, as file paths (read once per connection). */
export interface EtcdTlsFiles {
  /** PEM CA bundle that signed the etcd server certificates. */
  readonly caFile: string;
  /** PEM client certificate, for etcd's client-cert auth; give it together with `keyFile`. */
  readonly certFile?: string;
  /** PEM private key of `certFile`. */
  readonly keyFile?: string;
}

/** Where and how to reach etcd. Values are validated, never clamped. */
export interface EtcdConnectionOptions {
  /** etcd client URLs (`http://host:2379`, or `https://…` with TLS); at least one. */
  readonly endpoints: readonly string[];
  /** TLS files; without them, `https://` endpoints use the system CAs and `http://` ones plaintext. */
  readonly tls?: EtcdTlsFiles;
  /** etcd user/password auth. */
  readonly auth?: { readonly username: string; readonly password: string };
}

/**
 * An {@link EtcdPort} over a new etcd3 client. Rejects with {@link InvalidConfigError} for an empty
 * endpoint list, a client certificate without its key (or the reverse) or an unreadable TLS file. The
 * client connects lazily, on the first call. The port's `target` shows the endpoints with URL
 * credentials redacted; its `secrets` are those credentials and the auth password.
 */
export async function openEtcd3Port(options: EtcdConnectionOptions): Promise<EtcdPort> {
  const { endpoints } = options;
  if (endpoints.length === 0 || endpoints.some((e) => e.trim() === '')) {
    throw new InvalidConfigError(
      `etcd worker ID endpoints must be a non-empty list of URLs; got ${JSON.stringify(endpoints.map((e) => redactCredentials(e)))}`,
    );
  }
  const credentials = options.tls === undefined ? undefined : await readTls(options.tls);
  const client = new Etcd3({
    hosts: [...endpoints],
    // No per-host circuit breaker: etcd3's default opens after three failed calls and then refuses every
    // call for 5 s without trying, keepalives included, so a lease whose TTL is near that (chaos runs
    // 2 s) is lost although etcd is back. The claim bounds and retries its calls itself and fences on
    // what etcd acknowledged; etcd3's global retry of a failed call (3 attempts) stays.
    faultHandling: { host: () => noop },
    defaultCallOptions: (context) => (context.isStream ? {} : deadline(OWN_CALL_TIMEOUT_MS)),
    ...(credentials !== undefined && { credentials }),
    ...(options.auth !== undefined && {
      auth: { username: options.auth.username, password: options.auth.password },
    }),
  });
  const secrets = [...urlSecrets(endpoints), ...(options.auth === undefined ? [] : [options.auth.password])];
  return new Etcd3Port(redactCredentials(endpoints.join(',')), secrets, client);
}

/**
 * Certificate and TLS handshake failures, which etcd3 reports as UNAVAILABLE ("No connection
 * established. Last error: … unable to verify the first certificate" / "… alert bad certificate"): a
 * wrong CA, a missing or rejected client certificate, or https against a plain port do not heal by
 * waiting. A plaintext etcd closes the connection on the TLS hello ("Client network socket
 * disconnected before secure TLS connection was established"); another plaintext server answers
 * bytes that are no TLS record ("wrong version number", "packet length too long"). A bare "read
 * ECONNRESET" is not in this list: a plaintext etcd gives it when its close overtakes its answer, but so
 * does a TLS etcd that restarts mid-handshake, so it is retried (the next attempt names TLS).
 */
const TLS_FAILURE =
  /certificate|SSL routines|alert (?:bad|unknown|handshake)|ERR_TLS_|ERR_SSL_|wrong version number|packet length too long|before secure TLS connection was established/i;

/**
 * True for a {@link CoordinationError} from a claim over {@link openEtcd3Port} whose failure says nothing
 * about the claim itself — etcd unreachable, or no answer in time — so trying again may succeed.
 * Authentication, permission, TLS/certificate, expired-lease and malformed-data
 * ({@link CoordinationDataError}) errors are final.
 */
export function isTransientEtcdError(err: unknown): boolean {
  if (!(err instanceof CoordinationError) || err instanceof CoordinationDataError) return false;
  const { cause } = err;
  // An open circuit breaker only says etcd failed a moment ago (the adapter turns etcd3's per-host breaker
  // off; should one still answer, it heals by waiting like the failures that opened it).
  if (cause === undefined || cause instanceof GRPCDeadlineExceededError || isBrokenCircuitError(cause)) {
    return true;
  }
  return cause instanceof GRPCUnavailableError && !isEtcdTlsFailure(err);
}

/** True for a {@link CoordinationError} caused by a failed TLS handshake with etcd (see {@link TLS_FAILURE}). */
export function isEtcdTlsFailure(err: CoordinationError): boolean {
  return err.cause instanceof GRPCUnavailableError && TLS_FAILURE.test(err.cause.message);
}

/**
 * The port's operations mapped onto etcd3 builders and RPCs. Each call passes `deadline: Date.now() +
 * timeoutMs` to gRPC (etcd3 retries an UNAVAILABLE call up to 3 times, all within that one deadline).
 */
class Etcd3Port implements EtcdPort {
  constructor(
    readonly target: string,
    readonly secrets: readonly string[],
    private readonly client: Etcd3,
  ) {}

  async grantLease(ttlSeconds: number, timeoutMs: number): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, deadline(timeoutMs));
    return res.ID;
  }

  async keepaliveOnce(leaseId: string, timeoutMs: number): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive(deadline(timeoutMs));
    let res: ILeaseKeepAliveResponse;
    try {
      res = await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', (err: Error) => {
          reject(castGrpcError(err));
        });
        stream.write({ ID: leaseId });
      });
    } finally {
      stream.end();
    }
    // etcd answers a keepalive for a lease it does not know with TTL 0.
    if (res.TTL === '0') throw new EtcdLeaseNotFoundError(leaseId);
    return Number(res.TTL);
  }

  listKeys(prefix: string, timeoutMs: number): Promise<readonly string[]> {
    return this.client.getAll().prefix(prefix).options(deadline(timeoutMs)).keys();
  }

  async get(key: string, timeoutMs: number): Promise<EtcdKv | undefined> {
    const res = await this.client.get(key).options(deadline(timeoutMs)).exec();
    return toKv(res.kvs[0]);
  }

  async claimKey(txn: EtcdClaimTxn, timeoutMs: number): Promise<EtcdClaimTxnResult> {
    const { client } = this;
    let res: ITxnResponse;
    try {
      // The KV client's own txn: etcd3's builder needs a first compare, and the port applies exactly the
      // compares it is given (none: the put always happens).
      res = await client.kv.txn(
        {
          compare: txn.compares.map((c) => ({
            key: Buffer.from(c.key),
            target: 'Create',
            result: 'Equal',
            create_revision: c.createRevision,
          })),
          success: [
            {
              request_put: {
                key: Buffer.from(txn.key),
                value: Buffer.from(txn.value),
                lease: txn.leaseId,
              },
            },
            { request_range: { key: Buffer.from(txn.readKey) } },
          ],
          failure: [],
        },
        deadline(timeoutMs),
      );
    } catch (err) {
      throw err instanceof EtcdLeaseInvalidError ? new EtcdLeaseNotFoundError(txn.leaseId) : err;
    }
    if (!res.succeeded) return { succeeded: false };
    // The put is the transaction's only write, so the key's create_revision is the txn's revision.
    return { succeeded: true, createRevision: res.header.revision, read: responseKv(res, 1) };
  }

  async readGuarded(guard: EtcdHolderGuard, key: string, timeoutMs: number): Promise<EtcdGuardedRead> {
    const { client } = this;
    const res = await this.ifHolder(guard)
      .then(client.get(key))
      .else(client.get(guard.key))
      .options(deadline(timeoutMs))
      .commit();
    const kv = responseKv(res, 0);
    return res.succeeded ? { succeeded: true, kv } : { succeeded: false, guard: kv };
  }

  async writeGuarded(txn: EtcdGuardedWriteTxn, timeoutMs: number): Promise<EtcdGuardedWrite> {
    const { client } = this;
    const res = await this.ifHolder(txn.guard)
      .and(txn.key, 'Mod', '==', txn.modRevision)
      .then(client.put(txn.key).value(txn.value))
      .else(client.get(txn.guard.key))
      .options(deadline(timeoutMs))
      .commit();
    return res.succeeded ? { succeeded: true } : { succeeded: false, guard: responseKv(res, 0) };
  }

  async revokeLease(leaseId: string, timeoutMs: number): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: leaseId }, deadline(timeoutMs));
    } catch (err) {
      if (!(err instanceof EtcdLeaseInvalidError)) throw err;
    }
  }

  close(): void {
    this.client.close();
  }

  private ifHolder(guard: EtcdHolderGuard): ReturnType<Etcd3['if']> {
    return this.client
      .if(guard.key, 'Create', '==', guard.createRevision)
      .and(guard.key, 'Lease', '==', guard.leaseId);
  }
}

/** gRPC call options ending the call `timeoutMs` from now (gRPC deadlines are wall-clock dates). */
function deadline(timeoutMs: number): { deadline: number } {
  return { deadline: Date.now() + timeoutMs };
}

function toKv(kv: IKeyValue | undefined): EtcdKv | undefined {
  if (kv === undefined) return undefined;
  return {
    value: kv.value.toString('utf8'),
    lease: kv.lease,
    createRevision: kv.create_revision,
    modRevision: kv.mod_revision,
  };
}

/** The first key-value of the `index`-th response of a transaction (each is a Range here). */
function responseKv(res: ITxnResponse, index: number): EtcdKv | undefined {
  return toKv(res.responses[index]?.response_range.kvs[0]);
}

async function readTls(tls: EtcdTlsFiles): Promise<NonNullable<IOptions['credentials']>> {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new InvalidConfigError('etcd TLS client certificate and key must be given together (or neither)');
  }
  const read = async (file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new InvalidConfigError(
        `cannot read etcd TLS file ${file}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  return {
    rootCertificate: await read(tls.caFile),
    ...(tls.certFile !== undefined && { certChain: await read(tls.certFile) }),
    ...(tls.keyFile !== undefined && { privateKey: await read(tls.keyFile) }),
  };
}
