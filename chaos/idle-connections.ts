import { status, type Client } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import { IdSet } from './lib/id-set';
import { launch, stopLife } from './lib/instance';
import { sleep } from './lib/processes';
import { callRaw, decodeIds, encodeBatchIdsRequest, METHOD, rawClient } from './lib/wire';

/** Settings of the idle-connection phase (chaos/run). */
export interface IdleConnectionsOptions {
  readonly seconds: number;
  /** Idle connections opened per port and wave; more than the instance's open-file limit. */
  readonly connections: number;
  readonly workDir: string;
}

/** What the idle-connection phase reports. */
export interface IdleConnectionsReport {
  readonly seconds: number;
  /** The instance's open-file limit (set with prlimit once it listens) and connection caps. */
  readonly fdLimit: number;
  readonly caps: { readonly grpc: number; readonly metrics: number };
  /** Connections opened that never send a byte (gRPC: also one idle HTTP/2 client, one that ignores GOAWAY). */
  readonly idleOpened: { readonly grpc: number; readonly metrics: number };
  /** Idle /metrics connections the service closed by itself (headers timeout) before the end. */
  readonly metricsIdleClosedByService: number;
  /** snowflake_connections / snowflake_connections_rejected_total at the end, or null if /metrics did not answer. */
  readonly serviceCounts: {
    readonly grpcOpen: number;
    readonly grpcRejected: number;
    readonly metricsRejected: number;
  } | null;
  readonly calls: number;
  readonly failedCalls: Readonly<Record<string, number>>;
  readonly idsChecked: number;
  readonly duplicates: number;
  /** Longest stretch without a successful call, in ms. */
  readonly longestGapMs: number;
  /** Distinct reservations seen in the state file (polled every 200 ms). */
  readonly stateFileWrites: number;
  /** SIGTERM with the idle gRPC connections still open: exit code and how long it took. */
  readonly stop: { readonly exitCode: number | string; readonly ms: number };
  readonly violations: string[];
}

const FD_LIMIT = 256;
const CAPS = { grpc: 128, metrics: 16 };
/** Longer than this without an ID counts as issuance stopped. */
const MAX_GAP_MS = 5_000;
const DEADLINE_MS = 3_000;
const TOLERATED_FAILURES = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED']);

/**
 * One instance under an open-file limit of 256 while hundreds of connections that never send a byte
 * are opened to both its ports (gRPC ones held throughout, /metrics ones in two waves), and a client on
 * a connection opened before draws IDs. Violations: issuance stops (no ID for 5 s), the state file is
 * not rewritten, an ID repeats, a call fails other than UNAVAILABLE/DEADLINE_EXCEEDED, or SIGTERM with
 * the idle connections open does not exit 0 without cutting calls.
 */
export async function runIdleConnections(options: IdleConnectionsOptions): Promise<IdleConnectionsReport> {
  const stateDir = path.join(options.workDir, 'idle-state');
  fs.mkdirSync(stateDir, { recursive: true });
  const life = launch({
    id: 0,
    instance: 'idle',
    note: 'idle connections target',
    env: {
      SNOWFLAKE_STATE_DIR: stateDir,
      SNOWFLAKE_GRPC_MAX_CONNECTIONS: String(CAPS.grpc),
      SNOWFLAKE_METRICS_MAX_CONNECTIONS: String(CAPS.metrics),
    },
    logDir: options.workDir,
  });
  const violations: string[] = [];
  const idle: net.Socket[] = [];
  const metricsIdle: net.Socket[] = [];
  const streams: http2.ClientHttp2Session[] = [];
  let client: Client | undefined;
  try {
    const { grpcAddr, metricsAddr } = await life.listening;
    await life.serving;
    execFileSync('prlimit', ['--pid', String(life.child.pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
    const [grpcHost = '', grpcPort] = splitAddr(grpcAddr);
    const [metricsHost = '', metricsPort] = splitAddr(metricsAddr);
    const stateFile = startLineStateFile(path.join(options.workDir, 'idle-life0.log'));

    const drawer = rawClient(grpcAddr);
    client = drawer;
    const ids = new IdSet();
    const failed: Record<string, number> = {};
    let calls = 0;
    let lastOkMs = Date.now();
    let longestGapMs = 0;
    const startMs = Date.now();
    const endMs = startMs + options.seconds * 1000;
    const drawing = (async () => {
      for (let i = 0; Date.now() < endMs; i++) {
        const batch = i % 2 === 1;
        const r = batch
          ? await callRaw(drawer, METHOD.batchIds, encodeBatchIdsRequest(100), DEADLINE_MS)
          : await callRaw(drawer, METHOD.nextId, Buffer.alloc(0), DEADLINE_MS);
        calls++;
        const now = Date.now();
        if (r.ok) {
          for (const id of decodeIds(r.bytes)) ids.add(id);
          longestGapMs = Math.max(longestGapMs, now - lastOkMs);
          lastOkMs = now;
        } else {
          const name = status[r.code];
          failed[name] = (failed[name] ?? 0) + 1;
          await sleep(20);
        }
      }
      longestGapMs = Math.max(longestGapMs, Date.now() - lastOkMs);
    })();

    const reservations = new Set<number>();
    const polling = (async () => {
      while (Date.now() < endMs) {
        const r = readReservation(stateFile);
        if (r !== undefined) reservations.add(r);
        await sleep(200);
      }
    })();

    await sleep(1000);
    idle.push(...(await idleSockets(grpcHost, grpcPort, options.connections)));
    const idleHttp2 = http2.connect(`http://${grpcAddr}`);
    idleHttp2.on('error', () => undefined);
    streams.push(idleHttp2);
    const deaf = (await idleSockets(grpcHost, grpcPort, 1))[0];
    // The HTTP/2 preface and an empty SETTINGS frame, then silence: a client that ignores GOAWAY.
    deaf?.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      ]),
    );
    if (deaf !== undefined) idle.push(deaf);
    const wave = async () => {
      const sockets = await idleSockets(metricsHost, metricsPort, options.connections);
      metricsIdle.push(...sockets);
    };
    await wave();
    await sleep(Math.max(0, endMs - Date.now()) / 2);
    await wave();
    await Promise.all([drawing, polling]);

    const closedByService = metricsIdle.filter((s) => s.destroyed || s.readyState === 'closed').length;
    for (const s of metricsIdle) s.destroy();
    await sleep(200);
    const text = await scrape(metricsAddr);
    const counts =
      text === undefined
        ? null
        : {
            grpcOpen: series(text, 'snowflake_connections{listener="grpc"}'),
            grpcRejected: series(text, 'snowflake_connections_rejected_total{listener="grpc"}'),
            metricsRejected: series(text, 'snowflake_connections_rejected_total{listener="metrics"}'),
          };
    drawer.close();
    client = undefined;

    const stopStartMs = Date.now();
    const exitCode = await stopLife(life, 30_000);
    const stopMs = Date.now() - stopStartMs;
    const cut = [...life.messages.keys()].filter(
      (msg) => msg.includes('were cut') || msg.includes('was cut'),
    );

    const { duplicates, examples } = ids.duplicates(10);
    if (duplicates > 0) violations.push(`${duplicates} duplicate IDs (e.g. ${examples.join(', ')})`);
    if (longestGapMs > MAX_GAP_MS)
      violations.push(`no ID was issued for ${longestGapMs} ms while idle connections were open`);
    if (reservations.size < 2)
      violations.push(
        `the state file was not rewritten during ${options.seconds} s (${reservations.size} reservation seen)`,
      );
    for (const [name, n] of Object.entries(failed))
      if (!TOLERATED_FAILURES.has(name)) violations.push(`${n} calls failed with ${name}`);
    if (exitCode !== 0 || cut.length > 0)
      violations.push(
        `SIGTERM with idle connections open: exit ${String(exitCode)} after ${stopMs} ms ${cut.join('; ')}`,
      );
    return {
      seconds: options.seconds,
      fdLimit: FD_LIMIT,
      caps: CAPS,
      idleOpened: { grpc: options.connections + 2, metrics: 2 * options.connections },
      metricsIdleClosedByService: closedByService,
      serviceCounts: counts,
      calls,
      failedCalls: failed,
      idsChecked: ids.size,
      duplicates,
      longestGapMs,
      stateFileWrites: reservations.size,
      stop: { exitCode, ms: stopMs },
      violations,
    };
  } finally {
    client?.close();
    for (const s of [...idle, ...metricsIdle]) s.destroy();
    for (const s of streams) s.destroy();
    if (life.end === undefined) await stopLife(life, 5000);
  }
}

/** Opens `count` TCP connections that never send a byte; each settles when connected or closed. */
function idleSockets(host: string, port: number | undefined, count: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(port ?? 0, host);
          socket.on('error', () => undefined);
          socket.once('connect', () => {
            resolve(socket);
          });
          socket.once('close', () => {
            resolve(socket);
          });
        }),
    ),
  );
}

function splitAddr(addr: string): [string | undefined, number | undefined] {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(addr);
  return [m?.[1], m === null ? undefined : Number(m[2])];
}

/** The state file named in the start line of a life's log. */
function startLineStateFile(logFile: string): string {
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('snowflake service started')) continue;
    return String((JSON.parse(line) as { stateFile: unknown }).stateFile);
  }
  throw new Error(`no start line in ${logFile}`);
}

function readReservation(file: string): number | undefined {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { reservedUntilMs: number }).reservedUntilMs;
  } catch {
    return undefined;
  }
}

function scrape(addr: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get(`http://${addr}/metrics`, { timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve(res.statusCode === 200 ? body : undefined);
      });
      res.on('error', () => {
        resolve(undefined);
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(undefined);
    });
  });
}

function series(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}
