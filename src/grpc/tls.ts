import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TlsConfig } from '../config';
import { createTlsMetrics, type TlsMetrics } from '../metrics/metrics';
import {
  checkTlsFiles,
  messageOf,
  readTlsFiles,
  readTlsFilesSync,
  sameBytes,
  sameTlsFiles,
  type CheckedTlsFiles,
  type TlsFileContents,
} from './tls-files';

type CertificateProvider = grpc.experimental.CertificateProvider;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

/** What {@link grpcServerCredentials} needs besides the config. */
export interface TlsDeps {
  /** The service's private registry; the TLS metrics are added to it when TLS is on. */
  readonly registry: Registry;
  /** Where the served certificate (at start and after each rotation) and refused rotations are logged. */
  readonly logger: Logger;
}

/**
 * Credentials for the gRPC port: plaintext without `tls`. With it, TLS (mutual TLS when
 * `tls.clientCaFile` is set: clients without a certificate signed by that CA fail the handshake) from
 * files that are checked now — throws InvalidConfigError naming the variable and the file when one is
 * unreadable, not PEM, expired, or the key does not match the certificate — and re-read every
 * `tls.reloadIntervalMs` while a port is bound with these credentials (see {@link ReloadingTlsFiles}).
 * Works with `server.bindAsync` and `server.createConnectionInjector` alike.
 */
export function grpcServerCredentials(tls: TlsConfig | undefined, deps: TlsDeps): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const files = new ReloadingTlsFiles(tls, deps);
  const mutual = tls.clientCaFile !== undefined;
  // grpc-js 1.14's typings call the first parameter caCertificateProvider, but the implementation takes
  // the identity (certificate and key) provider first and the CA provider second, as passed here.
  return grpc.experimental.createCertificateProviderServerCredentials(files, mutual ? files : null, mutual);
}

/** What logs show of a served certificate. */
function certificateFields(files: TlsConfig, served: CheckedTlsFiles): Record<string, string> {
  return {
    certFile: files.certFile,
    subject: served.subject.replace(/\n/g, ', '),
    serialNumber: served.serialNumber,
    notAfter: new Date(served.notAfterMs).toISOString(),
  };
}

/**
 * The gRPC port's certificate, key and client CA as a grpc-js certificate provider that re-reads the
 * files every `reloadIntervalMs` (polling contents, so a Kubernetes secret volume's `..data` symlink
 * swap is seen as well as files rewritten in place) while grpc-js listens to it. A changed set is
 * checked first and handed to grpc-js only when valid, so new connections get the new certificate and
 * established ones keep theirs. A set that stays unusable on two reads in a row (a single failed read
 * is usually a rotation caught between writing the certificate and the key) is logged as an error and
 * counted in snowflake_tls_reload_failures_total, once per distinct problem, and the previous
 * certificate stays served. grpc-js' own FileWatcherCertificateProvider is not used: on an unreadable
 * or mismatched pair it hands grpc-js nothing, and grpc-js then drops every new connection, with the
 * cause visible only in its trace log.
 */
class ReloadingTlsFiles implements CertificateProvider {
  private served: CheckedTlsFiles;
  private readonly files: TlsConfig;
  private readonly logger: Logger;
  private readonly metrics: TlsMetrics;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private timer: NodeJS.Timeout | undefined;
  private reloading = false;
  /** The last read's problem; `reported` once logged and counted. */
  private unusable: { readonly key: string; reported: boolean } | undefined;

  /** Reads and checks the files now; throws InvalidConfigError naming the variable and the file at fault. */
  constructor(files: TlsConfig, deps: TlsDeps) {
    this.files = files;
    this.logger = deps.logger;
    this.served = checkTlsFiles(files, readTlsFilesSync(files), Date.now());
    this.metrics = createTlsMetrics(deps.registry);
    this.metrics.certificateExpiry.set(this.served.notAfterMs / 1000);
    this.logger.info(
      {
        ...certificateFields(files, this.served),
        ...(files.clientCaFile !== undefined && { clientCaFile: files.clientCaFile }),
        reloadIntervalMs: files.reloadIntervalMs,
      },
      files.clientCaFile === undefined ? 'TLS on the gRPC port' : 'mutual TLS on the gRPC port',
    );
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.startReloading();
    // Delivered on the next tick: grpc-js adds its own watcher only after this call returns.
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(identityOf(this.served.contents));
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.stopReloadingIfUnused();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.startReloading();
    process.nextTick(() => {
      const ca = this.served.contents.clientCa;
      if (this.caListeners.has(listener) && ca !== undefined) listener({ caCertificate: ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.stopReloadingIfUnused();
  }

  private startReloading(): void {
    if (this.timer !== undefined || this.reloading) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reloading = true;
      void this.reload().finally(() => {
        this.reloading = false;
        if (this.identityListeners.size + this.caListeners.size > 0) this.startReloading();
      });
    }, this.files.reloadIntervalMs);
    // Never the reason the process stays up: grpc-js removes its listeners when the port closes.
    this.timer.unref();
  }

  private stopReloadingIfUnused(): void {
    if (this.identityListeners.size + this.caListeners.size > 0 || this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async reload(): Promise<void> {
    let contents: TlsFileContents;
    try {
      contents = await readTlsFiles(this.files);
    } catch (err) {
      this.refuse(messageOf(err), messageOf(err));
      return;
    }
    if (sameTlsFiles(contents, this.served.contents)) {
      this.unusable = undefined;
      return;
    }
    let next: CheckedTlsFiles;
    try {
      next = checkTlsFiles(this.files, contents, Date.now());
    } catch (err) {
      this.refuse(`${messageOf(err)} ${digestOf(contents)}`, messageOf(err));
      return;
    }
    const previous = this.served.contents;
    this.served = next;
    this.unusable = undefined;
    this.metrics.certificateExpiry.set(next.notAfterMs / 1000);
    this.logger.info(
      certificateFields(this.files, next),
      'TLS files changed: new connections get the new certificate',
    );
    const ca = next.contents.clientCa;
    if (ca !== undefined && !sameBytes(ca, previous.clientCa)) {
      for (const listener of this.caListeners) listener({ caCertificate: ca });
    }
    if (!sameBytes(next.contents.cert, previous.cert) || !sameBytes(next.contents.key, previous.key)) {
      for (const listener of this.identityListeners) listener(identityOf(next.contents));
    }
  }

  private refuse(key: string, message: string): void {
    if (this.unusable?.key !== key) {
      this.unusable = { key, reported: false };
      this.logger.debug({ err: message }, 'TLS files changed but cannot be used yet; reading them again');
      return;
    }
    if (this.unusable.reported) return;
    this.unusable.reported = true;
    this.metrics.reloadFailures.inc();
    this.logger.error(
      { err: message, ...certificateFields(this.files, this.served) },
      'TLS files changed but cannot be used; still serving the previous certificate',
    );
  }
}

function identityOf(contents: TlsFileContents): grpc.experimental.IdentityCertificateUpdate {
  return { certificate: contents.cert, privateKey: contents.key };
}

/** Tells two unusable sets of contents apart when their problem reads the same. */
function digestOf(contents: TlsFileContents): string {
  const hash = createHash('sha256').update(contents.cert).update(contents.key);
  if (contents.clientCa !== undefined) hash.update(contents.clientCa);
  return hash.digest('hex');
}
