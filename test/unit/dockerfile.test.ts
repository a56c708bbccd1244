import * as fs from 'node:fs';
import * as path from 'node:path';
import { VARIABLE_DOCS } from '../../src/config';

// No Docker engine runs here, so the Dockerfile is checked by reading it, as a linter would.
const ROOT = path.resolve(__dirname, '../..');
const lines = fs
  .readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const stages: { name: string; lines: string[] }[] = [];
for (const line of lines) {
  const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?$/i.exec(line);
  if (from) stages.push({ name: from[1] ?? '', lines: [] });
  else stages.at(-1)?.lines.push(line);
}
const final = stages.at(-1)!;
const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  description: string;
  license: string;
  engines: { node: string };
};
/** Instructions with their `\` continuation lines joined. */
const instructions = lines
  .join('\n')
  .replace(/\\\n\s*/g, ' ')
  .split('\n');
/** Default of a global or stage ARG. */
const argDefault = (name: string) =>
  instructions.map((l) => new RegExp(`^ARG ${name}=(.*)$`).exec(l)?.[1]).find((v) => v !== undefined);
/** The final stage's labels (LABEL k="v" …), as written. */
const labels = new Map(
  instructions
    .slice(instructions.findIndex((l) => /^FROM .* AS runtime$/.test(l)))
    .filter((l) => l.startsWith('LABEL '))
    .flatMap((l) => [...l.matchAll(/([\w.-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as const)),
);

describe('Dockerfile', () => {
  it('is multi-stage with named stages, running npm ci in the build', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.every((s) => s.name !== '')).toBe(true);
    expect(stages[0]!.lines.some((l) => /^RUN npm ci\b/.test(l))).toBe(true);
  });

  it('ships only compiled JS in the final stage (no sources, no dev dependencies)', () => {
    const copies = final.lines.filter((l) => l.startsWith('COPY'));
    expect(copies.some((l) => /\bsrc\b|COPY \. /.test(l))).toBe(false);
    expect(copies).toEqual(expect.arrayContaining([expect.stringContaining('/app/dist')]));
    const deps = stages.find((s) => copies.some((c) => c.includes(`--from=${s.name} /app/node_modules`)));
    expect(deps?.lines.some((l) => l.includes('npm ci --omit=dev'))).toBe(true);
  });

  it('installs the npm workspace and ships the client package the service imports its contract from', () => {
    const workspaces = (
      JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
        workspaces: string[];
      }
    ).workspaces;
    expect(workspaces).toEqual(['packages/client']);
    // Every stage that runs npm ci has the workspace's package.json first, so node_modules links it.
    for (const stage of stages.filter((s) => s.lines.some((l) => l.startsWith('RUN npm ci')))) {
      const ci = stage.lines.findIndex((l) => l.startsWith('RUN npm ci'));
      expect(stage.lines.slice(0, ci)).toContain('COPY packages/client/package.json ./packages/client/');
      // No install-time build: prepare would run before the sources are copied.
      expect(stage.lines[ci]).toContain('--ignore-scripts');
    }
    // The link's target in the final image: the client's manifest, build and proto, never its sources.
    const copies = final.lines.filter((l) => l.startsWith('COPY'));
    expect(copies).toEqual(
      expect.arrayContaining([
        'COPY packages/client/package.json ./packages/client/',
        'COPY --from=build /app/packages/client/dist ./packages/client/dist',
        'COPY --from=build /app/packages/client/proto ./packages/client/proto',
      ]),
    );
  });

  it('runs as a non-root user', () => {
    const user = final.lines.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)(:|$)/);
  });

  it('exposes the default gRPC and metrics ports', () => {
    const ports = VARIABLE_DOCS.filter((d) => d.name.endsWith('_ADDR')).map(
      (d) => d.defaultValue.split(':')[1],
    );
    const exposed = final.lines
      .filter((l) => l.startsWith('EXPOSE '))
      .flatMap((l) => l.split(/\s+/).slice(1));
    expect(exposed.sort()).toEqual(ports.sort());
  });

  it('has a HEALTHCHECK and an ENTRYPOINT that run compiled files built from this repo', () => {
    const health = final.lines.find((l) => l.startsWith('HEALTHCHECK'));
    expect(health).toMatch(/CMD \["node", "dist\/healthcheck\.js"\]$/);
    expect(final.lines).toContain('ENTRYPOINT ["node", "dist/main.js"]');
    expect(fs.existsSync(path.join(ROOT, 'src/healthcheck.ts'))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'src/main.ts'))).toBe(true);
  });

  it('copies from the context only paths that exist and that .dockerignore lets through', () => {
    const sources = lines
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      expect(fs.existsSync(path.join(ROOT, src))).toBe(true);
      expect(ignore).toContain(`!${src}${fs.statSync(path.join(ROOT, src)).isDirectory() ? '/' : ''}`);
    }
  });

  it('builds every stage on one Node.js LTS image pinned by digest, whose major is in package.json engines', () => {
    const from = instructions.filter((l) => l.startsWith('FROM '));
    expect(from.length).toBe(stages.length);
    for (const l of from) expect(l).toMatch(/^FROM \$\{NODE_IMAGE\} AS \w+$/);
    const image = argDefault('NODE_IMAGE');
    const m = /^docker\.io\/library\/node:(\d+)\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}$/.exec(
      image ?? '',
    );
    expect({ image, pinned: m !== null }).toEqual({ image, pinned: true });
    const major = Number(m![1]);
    // Node 20 reached end of life on 2026-04-30; 22 and 24 are LTS lines.
    expect([22, 24]).toContain(major);
    const majors = pkg.engines.node.split('||').map((r) => Number(/^\s*\^(\d+)\.\d+\.\d+\s*$/.exec(r)?.[1]));
    expect(majors.every((n) => Number.isInteger(n))).toBe(true); // caret ranges only: no untested majors
    expect(majors).toContain(major);
  });

  it('labels the image with the OCI annotations, version and description from package.json', () => {
    expect(Object.fromEntries(labels)).toEqual({
      'org.opencontainers.image.title': 'snowflake-id-service',
      'org.opencontainers.image.description': pkg.description,
      'org.opencontainers.image.licenses': pkg.license,
      'org.opencontainers.image.version': '${VERSION}',
      'org.opencontainers.image.revision': '${REVISION}',
      'org.opencontainers.image.created': '${CREATED}',
      'org.opencontainers.image.source': '${SOURCE}',
      'org.opencontainers.image.base.name': '${NODE_IMAGE}',
    });
    expect(argDefault('VERSION')).toBe(pkg.version);
    for (const name of ['REVISION', 'CREATED', 'SOURCE', 'NODE_IMAGE'])
      expect(final.lines.some((l) => l === `ARG ${name}` || l.startsWith(`ARG ${name}=`))).toBe(true);
  });
});
