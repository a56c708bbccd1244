import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { IdClientError } from '../../packages/client/src/errors';
import type { AttemptEvent } from '../../packages/client/src/hooks';
import { createIdClient, type IdClient } from '../../packages/client/src/id-client';
import type { IdClientOptions } from '../../packages/client/src/options';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { startServiceProcess, type ServiceProcess } from '../helpers/process';

// Targets other than host:port against real service processes (dist/main.js) on loopback: a dns:///
// name that resolves to several servers, an ipv4: list, a unix: socket. Every server of one test
// listens on the same port on its own loopback address (127.0.0.1, 127.0.0.2, …: all of 127/8 is
// loopback on Linux), as the pods behind a headless Service do on their own IPs.
//
// The name: this machine's /etc/hosts maps `localhost` to 127.0.0.1 only (no ::1), and tests may not
// edit /etc/hosts or run a DNS server the system resolver asks. So the one thing replaced is the
// answer of the system resolver call grpc-js's DNS resolver makes (`dns.promises.lookup`), for one
// reserved test name (RFC 2606 `.test`); grpc-js's resolver, re-resolution, round_robin policy,
// subchannels and the client's retries all run for real, as they would against a hosts-file entry.

const codec = new IdCodec(DEFAULT_LAYOUT);
const workerOf = (id: bigint) => codec.decode(id).workerId;

/** The test name; what it resolves to is {@link resolvesTo}. */
const FLEET_NAME = 'snowflake-fleet.test';
let resolvesTo: string[] = [];
/** How many times grpc-js looked the name up. */
let lookups = 0;

const processes: ServiceProcess[] = [];
const clients: IdClient[] = [];
const dirs: string[] = [];

beforeAll(() => {
  const lookup = dns.promises.lookup.bind(dns.promises);
  jest.spyOn(dns.promises, 'lookup').mockImplementation(((
    hostname: string,
    options: dns.LookupAllOptions,
  ) => {
    if (hostname !== FLEET_NAME) return lookup(hostname, options);
    lookups++;
    return Promise.resolve(resolvesTo.map((address) => ({ address, family: 4 })));
  }) as typeof dns.promises.lookup);
});

afterAll(() => {
  jest.restoreAllMocks();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const p of processes.splice(0)) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A service process with worker ID `workerId` listening on `host:port` (port 0: any). */
async function service(workerId: number, host: string, port: number): Promise<ServiceProcess> {
  const p = await startServiceProcess({
    SNOWFLAKE_WORKER_ID: String(workerId),
    SNOWFLAKE_GRPC_ADDR: `${host}:${port}`,
    SNOWFLAKE_RESERVATION_MS: '10000',
  });
  processes.push(p);
  return p;
}

/** Servers with worker IDs 1, 2, … on 127.0.0.1, 127.0.0.2, … and one port; resolves to that port. */
async function fleet(size: number): Promise<{ port: number; procs: ServiceProcess[] }> {
  const first = await service(1, '127.0.0.1', 0);
  const port = first.grpcPort;
  const rest = await Promise.all(
    Array.from({ length: size - 1 }, (_, i) => service(i + 2, `127.0.0.${i + 2}`, port)),
  );
  return { port, procs: [first, ...rest] };
}

function client(options: IdClientOptions): IdClient {
  const c = createIdClient(options);
  clients.push(c);
  return c;
}

describe('gRPC targets against real service processes', () => {
  it(
    'dns:/// resolving to two servers, one killed mid-run: every call succeeds, no duplicate, and the ' +
      'name is re-resolved to a server added meanwhile',
    async () => {
      const { port, procs } = await fleet(3);
      const [a] = procs as [ServiceProcess, ServiceProcess, ServiceProcess];
      resolvesTo = ['127.0.0.1', '127.0.0.2'];
      lookups = 0;
      const attempts: AttemptEvent[] = [];
      const c = client({
        addresses: [`dns:///${FLEET_NAME}:${port}`],
        prefetch: { maxAgeMs: 0 },
        // grpc-js re-resolves a name at most every 30 s by default: short here so the test sees it.
        channelOptions: { 'grpc.dns_min_time_between_resolutions_ms': 100 },
        hooks: { onAttempt: (e) => attempts.push(e) },
      });

      const ids: bigint[] = [];
      const failures: unknown[] = [];
      let killed = false;
      let callsAfterKill = 0;
      const workersAfterKill = new Set<number>();
      // Four callers in parallel; bounded: stop once worker 3 answered 50 calls after the kill, or after
      // 4 × 1,500 calls in all (then the assertions below say what was missing).
      const caller = async (n: number) => {
        for (let i = 0; i < 1500; i++) {
          const startedAfterKill = killed;
          try {
            const batch = n % 2 === 0 ? await c.batch(20) : [await c.nextId()];
            ids.push(...batch);
            if (startedAfterKill) {
              callsAfterKill++;
              for (const id of batch) workersAfterKill.add(workerOf(id));
            }
          } catch (err) {
            failures.push(err instanceof IdClientError ? `${err.code}: ${err.message}` : err);
          }
          if (workersAfterKill.has(3) && callsAfterKill >= 200) return;
        }
      };
      const killer = async () => {
        // Mid-run: once both resolved servers have answered.
        for (let i = 0; i < 2000 && new Set(ids.map(workerOf)).size < 2; i++) {
          await new Promise((r) => setTimeout(r, 5));
        }
        resolvesTo = ['127.0.0.2', '127.0.0.3'];
        killed = true;
        a.child.kill('SIGKILL');
      };
      await Promise.all([killer(), ...[0, 1, 2, 3].map(caller)]);

      expect(failures).toEqual([]);
      expect(new Set(ids).size).toBe(ids.length);
      // Both servers the name first resolved to took calls (round_robin), …
      const before = new Set(ids.map(workerOf));
      expect(before.has(1) && before.has(2)).toBe(true);
      // … and after the kill the name was looked up again and the added server took calls.
      expect(lookups).toBeGreaterThanOrEqual(2);
      expect(workersAfterKill.has(3)).toBe(true);
      expect(callsAfterKill).toBeGreaterThanOrEqual(200);
      // Every attempt went to the one target; the ones that failed were retried (no call failed).
      expect(new Set(attempts.map((e) => e.address))).toEqual(new Set([`dns:///${FLEET_NAME}:${port}`]));
    },
    60_000,
  );

  it('ipv4: a list of two servers spreads the calls of one channel over both', async () => {
    const { port } = await fleet(2);
    const c = client({
      addresses: [`ipv4:127.0.0.1:${port},127.0.0.2:${port}`],
      prefetch: { maxAgeMs: 0 },
    });
    const workers = new Set<number>();
    // Both connect at once (round_robin connects to every address); bounded in case one never does.
    for (let i = 0; i < 200 && workers.size < 2; i++) workers.add(workerOf(await c.nextId()));
    expect(workers).toEqual(new Set([1, 2]));
    const info = await c.info();
    expect(info.address).toBe(`ipv4:127.0.0.1:${port},127.0.0.2:${port}`);
  });

  it('unix: reaches a server through a Unix domain socket, in both spellings', async () => {
    const [p] = (await fleet(1)).procs as [ServiceProcess];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-unix-'));
    dirs.push(dir);
    const socketPath = path.join(dir, 'grpc.sock');
    // The service listens on TCP only: a byte relay from the socket to its port stands in front of it.
    const relay = net.createServer((local) => {
      const remote = net.connect(p.grpcPort, '127.0.0.1');
      local.pipe(remote).pipe(local);
      const end = () => {
        local.destroy();
        remote.destroy();
      };
      local.on('error', end).on('close', end);
      remote.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => relay.listen(socketPath, resolve));
    try {
      for (const target of [`unix:${socketPath}`, `unix://${socketPath}`]) {
        const c = client({ addresses: [target], prefetch: { maxAgeMs: 0 } });
        const [id] = await c.batch(1);
        expect(workerOf(id!)).toBe(1);
        expect((await c.info()).address).toBe(target);
        await c.close();
      }
    } finally {
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});
