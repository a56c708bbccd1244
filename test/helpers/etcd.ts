import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** The etcd binary (Debian's etcd-server package); override with ETCD_BIN. */
const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

/** PEM files for an etcd that serves its client URL over TLS and requires client certificates. */
export interface EtcdTlsFiles {
  /** CA that signed the client certificates (`--trusted-ca-file`), and the server's, for the health check. */
  readonly caFile: string;
  /** Server certificate for 127.0.0.1 (`--cert-file`); etcd's gRPC gateway also presents it as a client. */
  readonly certFile: string;
  /** Its private key (`--key-file`). */
  readonly keyFile: string;
  /** A client certificate signed by `caFile`, presented by the health check. */
  readonly clientCertFile: string;
  /** Its private key. */
  readonly clientKeyFile: string;
}

/** Options of {@link startEtcd}. */
export interface EtcdOptions {
  /** How long to wait for `GET /health`, in ms; default 10000. */
  readonly startTimeoutMs?: number;
  /** Serve the client URL over https with `--client-cert-auth`; peers stay on http. Default: plain http. */
  readonly tls?: EtcdTlsFiles;
}

/** A throwaway single-member etcd on loopback. */
export interface EtcdServer {
  /** Client URL, `http://127.0.0.1:PORT` (`https://` with {@link EtcdOptions.tls}). */
  readonly endpoint: string;
  /** SIGTERM, then waits for exit (SIGKILL after 5 s); the data dir is kept for {@link EtcdServer.restart}. */
  stop(): Promise<void>;
  /** Stops it if running, then starts it again on the same ports and data dir and waits until healthy. */
  restart(): Promise<void>;
  /** SIGKILL, then waits for exit; the data dir is kept. */
  kill(): Promise<void>;
  /** Stops it and deletes the data dir; idempotent. Call it in afterAll. */
  dispose(): Promise<void>;
}

/**
 * Starts `etcd` on two free 127.0.0.1 ports (client and peer) with a temp data dir, and resolves once
 * `GET /health` says healthy (within `startTimeoutMs`). Logs only errors, kept for failure messages.
 */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdServer> {
  const { startTimeoutMs = 10_000, tls } = options;
  if (!existsSync(ETCD_BIN)) {
    throw new Error(`no etcd binary at ${ETCD_BIN}: apt-get install etcd-server, or set ETCD_BIN`);
  }
  // Read before anything needs cleaning up, so a missing file fails fast.
  const healthTls: HealthTls | undefined = tls && {
    ca: readFileSync(tls.caFile),
    cert: readFileSync(tls.clientCertFile),
    key: readFileSync(tls.clientKeyFile),
  };
  const [clientPort, peerPort] = await freePorts(2);
  const endpoint = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'snowflake-etcd-'));
  const name = 'snowflake-test';
  const args = [
    `--name=${name}`,
    `--data-dir=${path.join(dataDir, 'data')}`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
    '--logger=zap',
    '--log-level=error',
    // A single member elects itself after one election timeout: keep start-up and restarts fast.
    '--heartbeat-interval=50',
    '--election-timeout=250',
    ...(tls === undefined
      ? []
      : [
          `--cert-file=${tls.certFile}`,
          `--key-file=${tls.keyFile}`,
          `--trusted-ca-file=${tls.caFile}`,
          '--client-cert-auth',
        ]),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let disposed = false;

  const killOnExit = (): void => {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const launch = async (): Promise<void> => {
    let output = '';
    const proc = spawn(ETCD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => {
      proc.once('exit', () => {
        resolve();
      });
      // A binary that cannot be spawned emits 'error' and no 'exit'.
      proc.once('error', (err) => {
        output += String(err);
        resolve();
      });
    });
    child = proc;
    const deadline = Date.now() + startTimeoutMs;
    while (
      Date.now() < deadline &&
      proc.pid !== undefined &&
      proc.exitCode === null &&
      proc.signalCode === null
    ) {
      if (await healthy(endpoint, healthTls)) return;
      await sleep(50);
    }
    proc.kill('SIGKILL');
    await exited;
    throw new Error(`etcd did not become healthy within ${startTimeoutMs} ms; output: ${output}`);
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (proc?.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    process.removeListener('exit', killOnExit);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async restart() {
      if (disposed) throw new Error('etcd was disposed');
      await signal('SIGTERM');
      await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await signal('SIGTERM');
      process.removeListener('exit', killOnExit);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `count` distinct free TCP ports on 127.0.0.1 (bound together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            resolve(server);
          });
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** PEM contents for an https health check: the server's CA and a client certificate with its key. */
interface HealthTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** One `GET /health` (over https with `tls`) with a 500 ms timeout; true when etcd reports itself healthy. */
function healthy(endpoint: string, tls: HealthTls | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve(res.statusCode === 200 && body.includes('"health":"true"'));
      });
    };
    const url = `${endpoint}/health`;
    const req =
      tls === undefined
        ? http.get(url, { timeout: 500 }, onResponse)
        : https.get(url, { timeout: 500, ...tls }, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(false);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the service logs before it retries a failed etcd claim at start. */
export const CLAIM_RETRYING = 'etcd unreachable while claiming a worker ID; retrying';

/**
 * The errors of the claim retries in `logs` (JSON log lines) other than a bare connection reset. A peer
 * that refuses a TLS handshake writes its answer (an alert, or plaintext bytes) and closes; when the
 * close overtakes the answer the client sees only "read ECONNRESET", which an etcd restarting
 * mid-handshake also gives, so the service retries that one. Anything else retried here was final.
 */
export function retriedOtherThanReset(logs: readonly Record<string, unknown>[]): string[] {
  return logs
    .filter((l) => l.msg === CLAIM_RETRYING)
    .map((l) => String(l.err))
    .filter((err) => !/No connection established\. Last error: Error: read ECONNRESET/.test(err));
}
