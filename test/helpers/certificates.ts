import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

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
  /** `name.crt` and `name.key` signed by the CA `ca`, with the given X.509 v3 extensions. */
  makeCert(name: string, ca: string, extensions: readonly string[]): void;
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
    makeCert(name, ca, extensions) {
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
        '1',
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
