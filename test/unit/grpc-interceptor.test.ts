import * as grpc from '@grpc/grpc-js';
import { grpcServerMetrics } from '../../src/metrics/grpc-interceptor';
import { createMetrics, type Metrics } from '../../src/metrics/metrics';

type NextCall = grpc.ServerInterceptingCallInterface;
type Listener = Parameters<NextCall['start']>[0];

const NEXT_ID: grpc.ServerMethodDefinition<unknown, unknown> = {
  path: '/snowflake.v1.IdGenerator/NextId',
  requestStream: false,
  responseStream: false,
  requestDeserialize: () => ({}),
  responseSerialize: () => Buffer.alloc(0),
};
const LABELS = 'grpc_service="snowflake.v1.IdGenerator",grpc_method="NextId",grpc_type="unary"';

/** The next call in the chain: records what reaches it and lets the test play the transport's part. */
function fakeNextCall(deadline: grpc.Deadline = Infinity) {
  const events: string[] = [];
  let listener: Listener | undefined;
  const call = {
    start(l: Listener) {
      listener = l;
      events.push('start');
    },
    sendMetadata: () => events.push('metadata'),
    sendMessage: (message: unknown, callback: () => void) => {
      events.push(`message ${String(message)}`);
      callback();
    },
    sendStatus: (status: { code: number }) => events.push(`status ${status.code}`),
    startRead: () => events.push('read'),
    getPeer: () => 'ipv4:127.0.0.1:1',
    getDeadline: () => deadline,
    getHost: () => 'localhost',
    getAuthContext: () => ({}),
    getConnectionInfo: () => ({ localAddress: '', localPort: 0, remoteAddress: '', remotePort: 0 }),
    getMetricsRecorder: () => {
      throw new Error('not used');
    },
  } as unknown as NextCall;
  return { call, events, listener: () => listener! };
}

/** The handler side: records what the chain delivers to it. */
function recordingListener(events: string[]): Listener {
  return {
    onReceiveMetadata: () => events.push('handler metadata'),
    onReceiveMessage: (m: unknown) => events.push(`handler message ${String(m)}`),
    onReceiveHalfClose: () => events.push('handler half-close'),
    onCancel: () => events.push('handler cancel'),
  };
}

async function series(metrics: Metrics): Promise<Record<string, number>> {
  const text = await metrics.registry.metrics();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(grpc_server_(?:started_total|handled_total|handling_seconds_count)\{[^}]*\}) (\S+)$/.exec(
      line,
    );
    if (m !== null) out[m[1]!.replace(LABELS, '…')] = Number(m[2]);
  }
  return out;
}

/** Every gRPC status code name, as grpc_code label values (OK, CANCELLED, … UNAUTHENTICATED). */
const CODES = Object.entries(grpc.status)
  .filter(([, v]) => typeof v === 'number')
  .map(([name]) => name);

/** The series of NextId after `initialize`, with `handled` counts on top of 0 for every code. */
function initialized(started: number, handled: Record<string, number> = {}): Record<string, number> {
  const out: Record<string, number> = { 'grpc_server_started_total{…}': started };
  for (const code of CODES) out[`grpc_server_handled_total{…,grpc_code="${code}"}`] = handled[code] ?? 0;
  out['grpc_server_handling_seconds_count{…}'] = started;
  return out;
}

describe('grpcServerMetrics', () => {
  it('creates the started and latency series, and a handled series for every status code, at 0 before any call', async () => {
    const metrics = createMetrics();
    grpcServerMetrics(metrics).initialize([NEXT_ID]);
    expect(CODES).toHaveLength(17);
    expect(CODES).toEqual(
      expect.arrayContaining(['OK', 'INVALID_ARGUMENT', 'UNAVAILABLE', 'DEADLINE_EXCEEDED']),
    );
    expect(await series(metrics)).toEqual(initialized(0));
  });

  it.each([
    {
      name: 'a call answered OK',
      play: (call: NextCall, l: Listener) => {
        l.onReceiveMetadata(new grpc.Metadata());
        l.onReceiveMessage('req');
        l.onReceiveHalfClose();
        call.sendMetadata(new grpc.Metadata());
        call.sendMessage('res', () => undefined);
        call.sendStatus({ code: grpc.status.OK, details: '' });
      },
      code: 'OK',
      downstream: ['start', 'metadata', 'message res', 'status 0'],
      upstream: ['handler metadata', 'handler message req', 'handler half-close'],
    },
    {
      name: 'a call refused UNAVAILABLE',
      play: (call: NextCall) => {
        call.sendStatus({ code: grpc.status.UNAVAILABLE, details: 'refusing' });
      },
      code: 'UNAVAILABLE',
      downstream: ['start', 'status 14'],
      upstream: [],
    },
    {
      name: 'a call cancelled by the client, whose handler answers later: counted once, as CANCELLED',
      play: (call: NextCall, l: Listener) => {
        l.onCancel();
        call.sendStatus({ code: grpc.status.OK, details: '' });
      },
      code: 'CANCELLED',
      downstream: ['start', 'status 0'],
      upstream: ['handler cancel'],
    },
    {
      name: 'a call whose deadline passed (grpc-js answers it, past the interceptors)',
      deadline: new Date(Date.now() - 1),
      play: (_call: NextCall, l: Listener) => {
        l.onCancel();
      },
      code: 'DEADLINE_EXCEEDED',
      downstream: ['start'],
      upstream: ['handler cancel'],
    },
    {
      name: 'a call answered OK, then told of the end of the stream as grpc-js does after every status',
      deadline: new Date(Date.now() - 1),
      play: (call: NextCall, l: Listener) => {
        call.sendStatus({ code: grpc.status.OK, details: '' });
        l.onCancel();
      },
      code: 'OK',
      downstream: ['start', 'status 0'],
      upstream: ['handler cancel'],
    },
  ])('counts $name and passes every event through unchanged', async (c) => {
    const metrics = createMetrics();
    const grpcMetrics = grpcServerMetrics(metrics);
    grpcMetrics.initialize([NEXT_ID]);
    const next = fakeNextCall(c.deadline);
    const upstream: string[] = [];
    const call = grpcMetrics.interceptor(NEXT_ID, next.call);
    call.start(recordingListener(upstream));
    expect(call.getPeer()).toBe('ipv4:127.0.0.1:1');
    c.play(call, next.listener());

    expect(next.events).toEqual(c.downstream);
    expect(upstream).toEqual(c.upstream);
    expect(await series(metrics)).toEqual(initialized(1, { [c.code]: 1 }));
  });

  it('keeps counting across scrapes: a scrape copies the totals, it does not reset them', async () => {
    const metrics = createMetrics();
    const grpcMetrics = grpcServerMetrics(metrics);
    const calls = (n: number) => {
      for (let i = 0; i < n; i++) {
        const call = grpcMetrics.interceptor(NEXT_ID, fakeNextCall().call);
        call.start(recordingListener([]));
        call.sendStatus({ code: grpc.status.OK, details: '' });
      }
    };
    calls(3);
    const first = await series(metrics);
    calls(2);
    const second = await series(metrics);
    expect([first['grpc_server_started_total{…}'], second['grpc_server_started_total{…}']]).toEqual([3, 5]);
    expect(second['grpc_server_handled_total{…,grpc_code="OK"}']).toBe(5);
  });
});
