import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { installConsumer, packClient, type PackedClient } from '../helpers/client-package';
import { ROOT, runNode } from '../helpers/process';
import { startTestServer, type TestServer } from '../helpers/server';

// The client as a user gets it: `npm pack` of packages/client (built by its own prepack), installed with
// @grpc/grpc-js into an empty project, type-checked by a strict `nodenext` program, and run as CommonJS
// and as an ES module against a real server on 127.0.0.1.

const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const codec = new IdCodec(DEFAULT_LAYOUT);

/** One program, written as CommonJS (`.cts`) and as an ES module (`.mts`); only the header differs. */
function program(kind: 'cjs' | 'esm'): string {
  const header =
    kind === 'esm'
      ? `import { createRequire } from 'node:module';
const required = createRequire(import.meta.url)('@snowflake-id/client') as typeof import('@snowflake-id/client');
const sameCopy: boolean = required.IdClientError === IdClientError;`
      : `const sameCopy = true;`;
  return `import {
  createIdClient,
  decode,
  formatIdBase32,
  IdClientError,
  parseIdBase32,
  type CallOptions,
  type DecodeResult,
} from '@snowflake-id/client';
import { MAX_BATCH_SIZE_LIMIT, SERVICE_NAME, type Layout } from '@snowflake-id/client/contract';
${header}

const text = (d: DecodeResult) => ({ ...d, id: d.id.toString() });

async function main(address: string): Promise<void> {
  const client = createIdClient({ addresses: [address], prefetch: { maxAgeMs: 0 } });
  try {
    const id: bigint = await client.nextId();
    const callOptions: CallOptions = { deadline: Date.now() + 30_000, metadata: { 'x-request-id': 'pack-test' } };
    const batch: bigint[] = await client.batch(5, callOptions);
    const info = await client.info();
    const layout: Layout = {
      epochMs: info.epochMs,
      timeUnitMs: info.timeUnitMs,
      timestampBits: info.timestampBits,
      datacenterBits: info.datacenterBits,
      workerBits: info.workerBits,
      sequenceBits: info.sequenceBits,
    };
    await client.layout(); // client.decode now splits IDs by the server's layout, offline
    const result = {
      id: id.toString(),
      batch: batch.map(String),
      local: text(decode(id)),
      localWithServerLayout: text(decode(id, layout)),
      remote: text(await client.decodeRemote(id)),
      viaClientLayout: text(client.decode(id)),
      base32RoundTrip: parseIdBase32(formatIdBase32(id)).toString(),
      maxBatchSizeLimit: MAX_BATCH_SIZE_LIMIT,
      service: SERVICE_NAME,
      sameCopy,
    };
    process.stdout.write(JSON.stringify(result));
  } finally {
    await client.close();
  }
}

main(process.argv[2] ?? '').catch((err: unknown) => {
  process.stderr.write(\`\${err instanceof IdClientError ? err.code : 'ERROR'}: \${String(err)}\\n\`);
  process.exitCode = 1;
});
`;
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitOverride: true,
    isolatedModules: true,
    skipLibCheck: false,
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
    outDir: 'out',
  },
  files: ['cjs.cts', 'esm.mts'],
};

let tmp: string;
let consumer: string;
let packed: PackedClient;
let t: TestServer;
let typecheck: Awaited<ReturnType<typeof runNode>>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-client-package-'));
  consumer = path.join(tmp, 'consumer');
  t = await startTestServer({ SNOWFLAKE_DATACENTER_ID: '3', SNOWFLAKE_WORKER_ID: '7' });
  packed = await packClient(tmp);
  await installConsumer(consumer, packed.tarball);
  fs.writeFileSync(path.join(consumer, 'cjs.cts'), program('cjs'));
  fs.writeFileSync(path.join(consumer, 'esm.mts'), program('esm'));
  fs.writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  typecheck = await runNode([TSC, '-p', path.join(consumer, 'tsconfig.json')], {}, 180_000);
}, 900_000);

afterAll(async () => {
  await t.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('@snowflake-id/client packed and installed into an empty project', () => {
  it('ships only the built client with its types, the proto, LICENSE and README: no sources, maps or build info', () => {
    expect(packed.files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
    expect(packed.files).toContain('proto/snowflake/v1/id_generator.proto');
    for (const entry of ['dist/index.js', 'dist/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/index.d.mts']) {
      expect(packed.files).toContain(entry);
    }
    for (const entry of [
      'dist/contract/index.js',
      'dist/contract/index.d.ts',
      'dist/esm/contract.mjs',
      'dist/cli.js',
    ]) {
      expect(packed.files).toContain(entry);
    }
    const unexpected = packed.files.filter(
      (f) =>
        !['LICENSE', 'README.md', 'package.json'].includes(f) &&
        !/^dist\/.+\.(js|d\.ts|mjs|d\.mts)$/.test(f) &&
        !/^proto\/.+\.proto$/.test(f),
    );
    expect(unexpected).toEqual([]);
  });

  it("takes @grpc/grpc-js as a peer (the application's copy, any 1.x from 1.10) and depends only on proto-loader", () => {
    const manifest = (dir: string) =>
      JSON.parse(fs.readFileSync(path.join(consumer, 'node_modules', dir, 'package.json'), 'utf8')) as {
        version: string;
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
      };
    const client = manifest('@snowflake-id/client');
    expect(client.peerDependencies).toEqual({ '@grpc/grpc-js': '^1.10.0' });
    expect(Object.keys(client.dependencies ?? {})).toEqual(['@grpc/proto-loader']);
    const [major, minor] = manifest('@grpc/grpc-js').version.split('.').map(Number);
    expect(major === 1 && minor !== undefined && minor >= 10).toBe(true);
    expect(fs.existsSync(path.join(consumer, 'node_modules/@snowflake-id/client/node_modules'))).toBe(false);
  });

  it('type-checks a strict nodenext program, CommonJS and ES module, against the installed types', () => {
    expect(typecheck).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it.each([
    ['CommonJS', 'out/cjs.cjs'],
    ['an ES module', 'out/esm.mjs'],
  ])(
    "runs as %s against a real server: an ID, a batch, and a local decode equal to the server's",
    async (_n, file) => {
      const r = await runNode([path.join(consumer, file), `127.0.0.1:${t.server.grpcPort}`], {}, 60_000);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const out = JSON.parse(r.stdout) as {
        id: string;
        batch: string[];
        local: Record<string, unknown>;
        localWithServerLayout: Record<string, unknown>;
        remote: Record<string, unknown>;
        viaClientLayout: Record<string, unknown>;
        base32RoundTrip: string;
        maxBatchSizeLimit: number;
        service: string;
        sameCopy: boolean;
      };
      const id = BigInt(out.id);
      expect(codec.decode(id)).toMatchObject({ datacenterId: 3, workerId: 7 });
      const batch = out.batch.map(BigInt);
      expect(batch).toHaveLength(5);
      batch.forEach((b, i) => {
        expect(codec.decode(b)).toMatchObject({ datacenterId: 3, workerId: 7 });
        if (i > 0) expect(b > batch[i - 1]!).toBe(true);
      });
      expect(out.local).toMatchObject({ id: out.id, datacenterId: 3, workerId: 7 });
      expect(out.local).toEqual(out.remote);
      expect(out.localWithServerLayout).toEqual(out.remote);
      expect(out.viaClientLayout).toEqual(out.remote);
      expect(out.base32RoundTrip).toBe(out.id);
      expect(out).toMatchObject({
        maxBatchSizeLimit: 100_000,
        service: 'snowflake.v1.IdGenerator',
        sameCopy: true,
      });
    },
  );
});
