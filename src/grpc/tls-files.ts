import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { types } from 'node:util';
import type { TlsConfig } from '../config';
import { InvalidConfigError } from '../errors';

/** The bytes of the gRPC port's TLS files, as read from disk. */
export interface TlsFileContents {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Present exactly when the config names a client CA file. */
  readonly clientCa?: Buffer;
}

/** {@link TlsFileContents} that passed {@link checkTlsFiles}, with what logs and metrics show of them. */
export interface CheckedTlsFiles {
  readonly contents: TlsFileContents;
  /** Serial number of the leaf certificate, in hex as OpenSSL prints it. */
  readonly serialNumber: string;
  /** Subject of the leaf certificate, one `key=value` per line as Node prints it. */
  readonly subject: string;
  /** Earliest notAfter among the certificates of the chain, Unix ms: when clients stop accepting it. */
  readonly notAfterMs: number;
}

type Role = 'cert' | 'key' | 'clientCa';

const VARIABLE: Record<Role, string> = {
  cert: 'SNOWFLAKE_TLS_CERT_FILE',
  key: 'SNOWFLAKE_TLS_KEY_FILE',
  clientCa: 'SNOWFLAKE_TLS_CLIENT_CA_FILE',
};

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** `VARIABLE=path: what`, the form every TLS file problem takes, at boot and in reload logs. */
function problem(variable: string, file: string, what: string): InvalidConfigError {
  return new InvalidConfigError(`${variable}=${file}: ${what}`);
}

/** The message of a thrown value; isNativeError also recognises errors from another realm (vm, Jest). */
export const messageOf = (err: unknown): string => (types.isNativeError(err) ? err.message : String(err));

function pathOf(files: TlsConfig, role: Role): string | undefined {
  return role === 'cert' ? files.certFile : role === 'key' ? files.keyFile : files.clientCaFile;
}

/**
 * Reads the files of `files` synchronously (at boot, before anything listens). Throws
 * {@link InvalidConfigError} naming the variable and the file that cannot be read.
 */
export function readTlsFilesSync(files: TlsConfig): TlsFileContents {
  const read = (role: Role, file: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw problem(VARIABLE[role], file, `cannot be read (${messageOf(err)})`);
    }
  };
  return {
    cert: read('cert', files.certFile),
    key: read('key', files.keyFile),
    ...(files.clientCaFile !== undefined && { clientCa: read('clientCa', files.clientCaFile) }),
  };
}

/** Like {@link readTlsFilesSync}, without blocking the event loop (for periodic re-reads). */
export async function readTlsFiles(files: TlsConfig): Promise<TlsFileContents> {
  const read = async (role: Role, file: string): Promise<Buffer> => {
    try {
      return await fs.promises.readFile(file);
    } catch (err) {
      throw problem(VARIABLE[role], file, `cannot be read (${messageOf(err)})`);
    }
  };
  const [cert, key, clientCa] = await Promise.all([
    read('cert', files.certFile),
    read('key', files.keyFile),
    files.clientCaFile === undefined ? undefined : read('clientCa', files.clientCaFile),
  ]);
  return { cert, key, ...(clientCa !== undefined && { clientCa }) };
}

/** Whether two file contents (either possibly absent) are the same bytes. */
export function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

/** Whether two reads returned the same bytes for every file. */
export function sameTlsFiles(a: TlsFileContents, b: TlsFileContents): boolean {
  return sameBytes(a.cert, b.cert) && sameBytes(a.key, b.key) && sameBytes(a.clientCa, b.clientCa);
}

/** Every certificate of a PEM file, in file order; throws unless there is at least one and all parse. */
function certificates(files: TlsConfig, role: Role, pem: Buffer): X509Certificate[] {
  const file = pathOf(files, role) ?? '';
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw problem(
      VARIABLE[role],
      file,
      'holds no PEM certificate (allowed: -----BEGIN CERTIFICATE----- blocks)',
    );
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw problem(VARIABLE[role], file, `PEM certificate ${i + 1} does not parse (${messageOf(err)})`);
    }
  });
}

/**
 * Checks TLS file contents the way a handshake would need them: the certificate file holds a PEM chain
 * none of whose certificates has expired at `nowMs` (Unix ms), the key file an unencrypted PEM private
 * key matching the first (leaf) certificate, the client CA file (if any) PEM certificates, and Node's TLS
 * accepts the set. Throws {@link InvalidConfigError} naming the variable and the file at fault.
 */
export function checkTlsFiles(files: TlsConfig, contents: TlsFileContents, nowMs: number): CheckedTlsFiles {
  const chain = certificates(files, 'cert', contents.cert);
  const leaf = chain[0] as X509Certificate;
  let key: KeyObject;
  try {
    key = createPrivateKey(contents.key);
  } catch (err) {
    throw problem(
      VARIABLE.key,
      files.keyFile,
      `is not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1): ${messageOf(err)}`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw problem(
      VARIABLE.key,
      files.keyFile,
      `does not match the certificate in ${VARIABLE.cert}=${files.certFile} (serial ${leaf.serialNumber})`,
    );
  }
  let notAfterMs = Infinity;
  for (const cert of chain) {
    const validToMs = Date.parse(cert.validTo);
    if (!Number.isFinite(validToMs)) {
      throw problem(VARIABLE.cert, files.certFile, `has an unreadable notAfter date ${cert.validTo}`);
    }
    if (validToMs <= nowMs) {
      throw problem(
        VARIABLE.cert,
        files.certFile,
        `certificate ${cert.subject.replace(/\n/g, ', ')} (serial ${cert.serialNumber}) expired at ${new Date(validToMs).toISOString()}`,
      );
    }
    notAfterMs = Math.min(notAfterMs, validToMs);
  }
  if (contents.clientCa !== undefined) certificates(files, 'clientCa', contents.clientCa);
  try {
    tls.createSecureContext({ cert: contents.cert, key: contents.key, ca: contents.clientCa });
  } catch (err) {
    throw new InvalidConfigError(
      `${VARIABLE.cert}=${files.certFile}, ${VARIABLE.key}=${files.keyFile}: rejected by Node's TLS (${messageOf(err)})`,
    );
  }
  return { contents, serialNumber: leaf.serialNumber, subject: leaf.subject, notAfterMs };
}
