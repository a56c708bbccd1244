import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { MUTANTS } from './mutants';

const ROOT = path.resolve(__dirname, '../..');

// `npm run mutants` takes minutes; this keeps its table honest on every `npm test`: a mutation whose
// text moved (a refactor, a merge) fails here at once instead of only as STALE in the mutants run.
describe('the mutant table', () => {
  it.each(MUTANTS.map((m) => [m.name, m] as const))(
    'GIVEN mutant %s THEN its text occurs exactly once in its file and the mutation changes it',
    (_name, mutant) => {
      const source = readFileSync(path.join(ROOT, mutant.file), 'utf8');
      expect(source.split(mutant.search).length - 1).toBe(1);
      expect(mutant.replace).not.toBe(mutant.search);
      expect(mutant.schedules).toBeGreaterThan(0);
    },
  );

  it('GIVEN the table THEN names are unique kebab-case and at least 12 mutants run today', () => {
    const names = MUTANTS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(MUTANTS.length).toBeGreaterThanOrEqual(12);
  });
});
