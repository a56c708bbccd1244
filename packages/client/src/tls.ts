import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { IdClientError } from './errors';

/**
 * PEM given inline or as a file: a Buffer holds PEM bytes; a string that starts with `-----BEGIN`
 * (leading white space ignored) is PEM text; any other string is the path of a PEM file, read once when
 * the client is created.
 */
export type PemSource = string | Buffer;

/** TLS to the servers, for `createIdClient({ tls })`; see {@link PemSource} for each PEM value. */
export interface TlsOptions {
  /** CA certificates (one or more, PEM) that sign the servers' certificates. Default: Node's bundled root CAs. */
  readonly ca?: PemSource;
  /** Client certificate chain (PEM) to present to a server that requires mutual TLS; needs `key`. */
  readonly cert?: PemSource;
  /** Unencrypted private key (PEM) of `cert`; needs `cert`. */
  readonly key?: PemSource;
  /**
   * Name the servers' certificates must carry when it is not the dialled host (an IP list, a Unix
   * socket, a host name the certificate lacks). Default: the target's host (`localhost` for `unix:`).
   */
  readonly serverName?: string;
}

/** What TLS options become: grpc-js credentials, and the channel options they need. */
export interface TlsChannel {
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
}

/**
 * grpc-js TLS credentials from `tls`, with every PEM read and parsed now; throws {@link IdClientError}
 * `INVALID_OPTIONS` naming the option (and file) for an unreadable file, a CA bundle without a
 * certificate, a certificate or key that does not parse, a key that does not match the certificate, or
 * only one of `cert` and `key`.
 */
export function tlsChannel(tls: TlsOptions): TlsChannel {
  // Checked at run time too: JavaScript callers get no compile-time check.
  if (typeof tls !== 'object' || (tls as TlsOptions | null) === null) throw invalid('tls must be an object');
  const ca = tls.ca === undefined ? null : pem('tls.ca', tls.ca);
  const cert = tls.cert === undefined ? null : pem('tls.cert', tls.cert);
  const key = tls.key === undefined ? null : pem('tls.key', tls.key);
  if ((cert === null) !== (key === null)) {
    throw invalid('tls.cert and tls.key go together (mutual TLS): give both or neither');
  }
  if (ca !== null) checkCertificates('tls.ca', ca, describeSource(tls.ca));
  if (cert !== null) checkCertificates('tls.cert', cert, describeSource(tls.cert));
  let credentials: grpc.ChannelCredentials;
  try {
    credentials = grpc.credentials.createSsl(ca, key, cert);
  } catch (err) {
    // createSsl builds the TLS context now: a key that does not parse or match fails here, not per call.
    throw invalid(
      `tls.cert/tls.key (${describeSource(tls.cert)}, ${describeSource(tls.key)}): ${message(err)}`,
    );
  }
  const { serverName } = tls;
  if (serverName !== undefined && (typeof serverName !== 'string' || !/^[^\s]+$/.test(serverName))) {
    throw invalid(`tls.serverName must be a host name; got ${JSON.stringify(serverName)}`);
  }
  return {
    credentials,
    channelOptions: serverName === undefined ? {} : { 'grpc.ssl_target_name_override': serverName },
  };
}

function pem(option: string, source: PemSource): Buffer {
  if (Buffer.isBuffer(source)) return source;
  if (typeof source !== 'string' || source === '') {
    throw invalid(`${option} must be PEM (a Buffer or text) or a file path; got ${typeof source}`);
  }
  if (isPemText(source)) return Buffer.from(source);
  try {
    return fs.readFileSync(source);
  } catch (err) {
    throw invalid(`${option}: cannot read ${source}: ${message(err)}`);
  }
}

const CERTIFICATE_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in `bytes` parses, and there is one at least (Node would ignore a bad CA silently). */
function checkCertificates(option: string, bytes: Buffer, source: string): void {
  const blocks = bytes.toString('latin1').match(CERTIFICATE_RE) ?? [];
  if (blocks.length === 0) throw invalid(`${option}: no PEM certificate in ${source}`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw invalid(`${option}: certificate ${i + 1} in ${source} does not parse: ${message(err)}`);
    }
  });
}

function isPemText(text: string): boolean {
  return text.trimStart().startsWith('-----BEGIN');
}

function describeSource(source: PemSource | undefined): string {
  if (source === undefined) return 'not given';
  return typeof source === 'string' && !isPemText(source) ? source : 'the PEM given';
}

function message(err: unknown): string {
  // Duck-typed: errors of Node's fs come from another realm under some test runners and sandboxes.
  const text = (err as { message?: unknown } | null)?.message;
  return typeof text === 'string' ? text : String(err);
}

function invalid(text: string): IdClientError {
  return new IdClientError('INVALID_OPTIONS', text);
}
