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
});
