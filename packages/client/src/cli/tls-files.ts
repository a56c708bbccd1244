import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import { ArgumentError } from './argument-error';

/** TLS material for the CLI's channels, read and checked from the files its flags name. */
export interface TlsSettings {
  /** CA certificates (PEM) that must have signed the server's; undefined: the system's. */
  readonly ca: Buffer | undefined;
  /** Client certificate chain (PEM) for mutual TLS; set together with `key`. */
  readonly cert: Buffer | undefined;
  /** Unencrypted private key (PEM) of `cert`. */
  readonly key: Buffer | undefined;
  /** Name the server's certificate must carry instead of the dialled host; undefined: that host. */
  readonly serverName: string | undefined;
}

/** The TLS flags as given; each file is a path. */
export interface TlsFlags {
  readonly tls: boolean;
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly serverName: string | undefined;
}

/**
 * Reads and checks the files of `flags`: readable, PEM, certificates that parse, a private key that
 * parses and matches the certificate. Undefined when no flag asks for TLS (plaintext). Throws
 * {@link ArgumentError} whose message names the flag and file at fault.
 */
export function tlsSettings(flags: TlsFlags): TlsSettings | undefined {
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new ArgumentError(flags.cert === undefined ? '--key needs --cert' : '--cert needs --key');
  }
  const on = flags.tls || flags.ca !== undefined || flags.cert !== undefined;
  if (!on) {
    if (flags.serverName !== undefined)
      throw new ArgumentError('--server-name needs TLS (--tls, --ca or --cert)');
    return undefined;
  }
  if (flags.serverName === '') throw new ArgumentError('--server-name must not be empty');
  const ca = flags.ca === undefined ? undefined : certificates('--ca', flags.ca);
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  if (flags.cert !== undefined && flags.key !== undefined) {
    cert = certificates('--cert', flags.cert);
    key = readPem('--key', flags.key);
    let keyObject: KeyObject;
    try {
      keyObject = createPrivateKey(key);
    } catch {
      throw new ArgumentError(`--key ${flags.key}: not an unencrypted PEM private key`);
    }
    if (!new X509Certificate(cert).checkPrivateKey(keyObject)) {
      throw new ArgumentError(`--key ${flags.key} is not the private key of --cert ${flags.cert}`);
    }
  }
  return { ca, cert, key, serverName: flags.serverName };
}

/** The PEM file `file` of `flag`, checked to begin with a certificate. */
function certificates(flag: string, file: string): Buffer {
  const pem = readPem(flag, file);
  try {
    new X509Certificate(pem);
  } catch {
    throw new ArgumentError(`${flag} ${file}: not a PEM certificate`);
  }
  return pem;
}

/** The bytes of `file`, checked to hold PEM (grpc-js takes nothing else). */
function readPem(flag: string, file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ArgumentError(`${flag} ${file}: cannot be read (${code ?? String(err)})`, { cause: err });
  }
  if (!bytes.includes('-----BEGIN '))
    throw new ArgumentError(`${flag} ${file}: not PEM (no "-----BEGIN" line)`);
  return bytes;
}
