import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import { unaryOk } from '../helpers/grpc-client';
import { ROOT } from '../helpers/process';
import { startTestServer, startTestServerOnFakeClocks, type TestServer } from '../helpers/server';
import { runStrictClient, type StrictCallResult, type StrictErrorDetail } from '../helpers/strict-client';

// Python starts in about a second, more on a loaded machine; nothing here measures time.
jest.setTimeout(120_000);

const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';

function failed(r: StrictCallResult | undefined): Extract<StrictCallResult, { ok: false }> {
  if (r === undefined || r.ok) throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r;
}

/** The single ErrorInfo detail of a failed call, checked to be consistent with the call's status. */
function errorInfoOf(r: Extract<StrictCallResult, { ok: false }>, grpcCode: number): StrictErrorDetail {
  expect(r.status).not.toBeNull();
  expect(r.status?.code).toBe(grpcCode);
  expect(r.status?.message).toBe(r.details);
  expect(r.status?.details).toHaveLength(1);
  const [detail] = r.status?.details ?? [];
  expect(detail?.typeUrl).toBe(ERROR_INFO);
  return detail as StrictErrorDetail;
}

describe('an independent client (Python grpcio, C++ protobuf) knowing the service only through reflection', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it('loads the descriptors reflection serves for Health, IdGenerator and google.rpc.ErrorInfo into a strict pool, and calls Health/Check, Health/List and GetInfo with them', async () => {
    const report = await runStrictClient(t.server.grpcPort, {
      messages: ['google.rpc.ErrorInfo'],
      calls: [
        { method: 'grpc.health.v1.Health/Check', request: { service: 'snowflake.v1.IdGenerator' } },
        { method: 'grpc.health.v1.Health/List' },
        { method: 'snowflake.v1.IdGenerator/GetInfo' },
      ],
    });
    expect([...report.services].sort()).toEqual(['grpc.health.v1.Health', 'snowflake.v1.IdGenerator']);
    expect(report.calls).toEqual([
      { ok: true, response: { status: 'SERVING' } },
      // HealthListResponse.statuses is a map field: exactly what strict runtimes rejected.
      {
        ok: true,
        response: {
          statuses: {
            '': { status: 'SERVING' },
            liveness: { status: 'SERVING' },
            'snowflake.v1.IdGenerator': { status: 'SERVING' },
          },
        },
      },
      {
        ok: true,
        response: {
          epochMs: '1577836800000',
          timestampBits: 41,
          datacenterBits: 5,
          workerBits: 5,
          sequenceBits: 12,
          timeUnitMs: 1,
          maxBatchSize: 10000,
        },
      },
    ]);
  });

  it.each([
    [
      'BatchIds count 0',
      'snowflake.v1.IdGenerator/BatchIds',
      { count: 0 },
      'BATCH_SIZE_OUT_OF_RANGE',
      { count: '0', min: '1', max: '10000' },
    ],
    [
      'DecodeId of an ID with bit 63 set',
      'snowflake.v1.IdGenerator/DecodeId',
      { id: '9223372036854775808' },
      'INVALID_ID',
      { id: '9223372036854775808', min: '0', max: '9223372036854775807' },
    ],
  ])(
    '%s: INVALID_ARGUMENT carries google.rpc.Status with an ErrorInfo (reason, domain snowflake.v1, facts) in grpc-status-details-bin, and the snowflake-error-code trailer',
    async (_name, method, request, reason, metadata) => {
      const report = await runStrictClient(t.server.grpcPort, {
        messages: ['google.rpc.ErrorInfo'],
        calls: [{ method, request }],
      });
      const r = failed(report.calls[0]);
      expect(r.code).toBe('INVALID_ARGUMENT');
      expect(r.details).toMatch(new RegExp(`^${reason}: `));
      expect(r.trailers['snowflake-error-code']).toBe(reason);
      const detail = errorInfoOf(r, 3);
      expect(detail.errorInfo).toEqual({ reason, domain: 'snowflake.v1', metadata });
      expect(detail.errorInfoViaReflection).toEqual({ reason, domain: 'snowflake.v1', metadata });
    },
  );

  it("the README's grpcurl examples show what the server answers", async () => {
    const examples = readmeGrpcurlExamples();
    const list = examples.filter((e) => e.method === 'list');
    const calls = examples.filter((e) => e.method !== 'list');
    expect(list).toHaveLength(1);
    expect(calls.map((e) => e.method)).toEqual(
      expect.arrayContaining([
        'snowflake.v1.IdGenerator/NextId',
        'snowflake.v1.IdGenerator/BatchIds',
        'snowflake.v1.IdGenerator/DecodeId',
        'snowflake.v1.IdGenerator/GetInfo',
        'grpc.health.v1.Health/Check',
      ]),
    );
    const report = await runStrictClient(t.server.grpcPort, {
      messages: ['google.rpc.ErrorInfo'],
      calls: calls.map((e) => ({ method: e.method, request: e.request })),
    });
    // grpcurl prints the listed services sorted.
    expect({ list: list[0]?.output }).toEqual({ list: [...report.services].sort() });
    calls.forEach((example, i) => {
      const r = report.calls[i];
      const shown = { method: example.method, output: example.output };
      if (r === undefined) throw new Error(`no result for ${example.method}`);
      if (!r.ok) {
        const detail = errorInfoOf(r, r.status?.code ?? -1);
        expect(shown).toEqual({
          method: example.method,
          output: {
            error: {
              code: r.code.toLowerCase().replace(/(?:^|_)(.)/g, (_m, c: string) => c.toUpperCase()),
              message: r.details,
              details: [{ '@type': detail.typeUrl, ...detail.errorInfoViaReflection }],
            },
          },
        });
      } else if (/\/(NextId|BatchIds)$/.test(example.method)) {
        // New IDs every call: the README shows the shape (field names, decimal strings, count).
        const ids = (o: unknown) => Object.values(o as Record<string, unknown>).flat();
        expect(Object.keys(example.output as object)).toEqual(Object.keys(r.response));
        expect(ids(r.response)).toHaveLength(ids(example.output).length);
        expect(ids(r.response).every((id) => typeof id === 'string' && /^\d+$/.test(id))).toBe(true);
      } else {
        expect(shown).toEqual({ method: example.method, output: r.response });
      }
    });
  });
});

describe('an independent client against a server that refuses', () => {
  it('UNAVAILABLE carries google.rpc.Status with an ErrorInfo (CLOCK_SKEW, behindMs, maxSkewMs)', async () => {
    const t = await startTestServerOnFakeClocks();
    const { wall } = t;
    try {
      await unaryOk<NextIdResponse__Output>(t.client, 'NextId', {});
      // The fake clocks stand still: the server refuses until the test ends.
      wall.advance(-5000);
      const report = await runStrictClient(t.server.grpcPort, {
        calls: [{ method: 'snowflake.v1.IdGenerator/NextId' }],
      });
      const r = failed(report.calls[0]);
      expect(r.code).toBe('UNAVAILABLE');
      expect(r.trailers['snowflake-error-code']).toBe('CLOCK_SKEW');
      expect(errorInfoOf(r, 14).errorInfo).toEqual({
        reason: 'CLOCK_SKEW',
        domain: 'snowflake.v1',
        metadata: { behindMs: '5000', maxSkewMs: '1000' },
      });
    } finally {
      await t.close();
    }
  });
});

interface GrpcurlExample {
  /** `list`, or the `service/method` called. */
  readonly method: string;
  readonly request: object;
  /** Lines for `list`; the JSON answer; or `{ error: { code, message, details } }` for an ERROR. */
  readonly output: unknown;
}

/** Every `$ grpcurl …` example in the README's API section, with the output shown under it. */
function readmeGrpcurlExamples(): GrpcurlExample[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const api = readme.slice(readme.indexOf('\n## API\n'), readme.indexOf('\n## Configuration\n'));
  const blocks = [...api.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const examples: GrpcurlExample[] = [];
  for (const block of blocks) {
    for (const chunk of block.split(/^(?=\$ grpcurl )/m).filter((c) => c.startsWith('$ grpcurl '))) {
      const [command = '', ...rest] = chunk.split('\n');
      const lines = rest.map((l) => l.trimEnd()).filter((l) => l !== '');
      const request = /-d '([^']*)'/.exec(command)?.[1];
      const method = command.trim().split(/\s+/).at(-1) ?? '';
      examples.push({
        method,
        request: request === undefined ? {} : (JSON.parse(request) as object),
        output:
          method === 'list'
            ? lines
            : lines[0] === 'ERROR:'
              ? grpcurlError(lines)
              : JSON.parse(lines.join(' ')),
      });
    }
  }
  return examples;
}

/** grpcurl's ERROR output: `Code:`, `Message:`, then numbered detail messages as JSON. */
function grpcurlError(lines: readonly string[]): unknown {
  const field = (name: string) =>
    lines
      .find((l) => l.trim().startsWith(`${name}: `))
      ?.trim()
      .slice(name.length + 2);
  const detailsAt = lines.findIndex((l) => l.trim() === 'Details:');
  const details =
    detailsAt < 0
      ? []
      : [
          lines
            .slice(detailsAt + 1)
            .map((l) => l.replace(/^\s*(\d+\))?\s*/, ''))
            .join(''),
        ];
  return {
    error: {
      code: field('Code'),
      message: field('Message'),
      details: details.map((d) => JSON.parse(d) as unknown),
    },
  };
}
