import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

/** The openssl binary the certificates are made with (CI installs Debian's openssl). */
export const OPENSSL = process.env.OPENSSL_BIN ?? '/usr/bin/openssl';

/** A fresh P-256 key, unencrypted. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** X.509 v3 extensions of a server certificate for 127.0.0.1 and localhost that may also act as a client. */
export const SERVER_EXTENSIONS = [
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
  'extendedKeyUsage=serverAuth,clientAuth',
];

/** X.509 v3 extensions of a client certificate. */
export const CLIENT_EXTENSIONS = ['extendedKeyUsage=clientAuth'];

/**
 * A temporary directory of throwaway certificates made afresh with openssl at test time: self-signed
 * CAs and certificates they sign, each as `name.crt` and `name.key`, valid for a day.
 */
export interface TestPki {
  /** The directory; removed by {@link TestPki.dispose}. */
  readonly dir: string;
  /** Absolute path of `name` in the directory. */
  file(name: string): string;
  /** A self-signed CA, `name.crt` and `name.key`. */
  makeCa(name: string): void;
  /**
   * `name.crt` and `name.key` signed by the CA `ca`, with the given X.509 v3 extensions, valid for `days`
   * (default 1; negative: expired that many days ago).
   */
  makeCert(name: string, ca: string, extensions: readonly string[], days?: number): void;
  /** Serial number of `name.crt` (hex, as Node and OpenSSL print it). */
  serialOf(name: string): string;
  /** Removes the directory. */
  dispose(): void;
}

/** Makes a {@link TestPki} in a new temporary directory named after `prefix`. */
export function createTestPki(prefix: string): TestPki {
  if (!fs.existsSync(OPENSSL)) throw new Error(`${OPENSSL} not found: install openssl or set OPENSSL_BIN`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => {
    const r = spawnSync(OPENSSL, args, { cwd: dir, encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  };
  return {
    dir,
    file,
    makeCa(name) {
      openssl(
        'req',
        '-x509',
        ...EC_KEY,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
      );
    },
    makeCert(name, ca, extensions, days = 1) {
      fs.writeFileSync(file(`${name}.ext`), `${extensions.join('\n')}\n`);
      openssl(
        'req',
        '-new',
        ...EC_KEY,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${name}`,
      );
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-days',
        String(days),
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
      );
    },
    serialOf(name) {
      return new X509Certificate(fs.readFileSync(file(`${name}.crt`))).serialNumber;
    },
    dispose() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The certificate a TLS port on 127.0.0.1 presents to a new connection offering ALPN h2 (as gRPC clients
 * do), without verifying it; `client` is the certificate and key to present when the port requires one.
 * Rejects on a handshake error or after 10 s.
 */
export function servedCertificate(
  port: number,
  client?: { readonly cert: Buffer; readonly key: Buffer },
): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      ...client,
    });
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`no TLS handshake with 127.0.0.1:${port} within 10 s`));
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve(peer);
    });
    socket.once('error', reject);
  });
}
