import { IdCodec, type NodeId } from '../../src/core/codec';
import { Generator, type Allocation } from '../../src/core/generator';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { FakeClock } from '../helpers/fake-clock';
import { InvariantChecker, type ViolationKind } from './checker';
import { Prng } from './prng';
import { formatSummary, replayCommand, runSchedules } from './run';
import { runSchedule, type Broken, type ScheduleResult } from './schedule';

/** Scans seeds 1, 2, … up to `maxSeeds` for a schedule with a `kind` violation. */
async function firstFailing(broken: Broken, kind: ViolationKind, maxSeeds: number): Promise<ScheduleResult> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const result = await runSchedule(seed, { broken });
    if (result.violations.some((v) => v.kind === kind)) return result;
  }
  throw new Error(
    `no ${kind} violation with --broken ${broken} in seeds 1…${maxSeeds}: the faults do not bite`,
  );
}

describe('deterministic fault simulation', () => {
  it('GIVEN the same seed twice THEN the same IDs are issued, the same faults injected and the same invariants seen', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const [a, b] = [await runSchedule(seed), await runSchedule(seed)];
      expect(b).toEqual(a);
    }
  });

  it('GIVEN no faults THEN every machine that can hold a worker ID issues IDs', async () => {
    for (let seed = 1; seed <= 80; seed++) {
      const result = await runSchedule(seed, { calm: true });
      const serving = result.issuedPerMachine.filter((n) => n > 0).length;
      expect({ seed, serving, violations: result.violations }).toEqual({
        seed,
        serving: Math.min(result.machines, 4),
        violations: [],
      });
    }
  });

  // Each row breaks one rule of the composition; the checker must notice within a bounded number of seeds
  // (the first hit is far below each bound), and the failing seed must replay identically. With sparse
  // traffic a broken rule shows first as the precondition of a duplicate (an ID not above its worker's
  // last one, a reservation not covering an ID, a dead lease in use); the floor rows reach duplicates.
  it.each<[Broken, ViolationKind, number]>([
    ['no-floor', 'order', 100],
    ['no-floor', 'duplicate', 1000],
    ['no-coordinator-floor', 'order', 100],
    ['no-coordinator-floor', 'duplicate', 1000],
    ['disk-only-ceiling', 'coverage', 50],
    ['no-fence', 'lease', 50],
    ['etcd-clock-beyond-margin', 'lease', 50],
  ])(
    'GIVEN the broken composition %s THEN a %s violation is reported within %d seeds, and its seed replays it',
    async (broken, kind, maxSeeds) => {
      const failed = await firstFailing(broken, kind, maxSeeds);
      const replayed = await runSchedule(failed.seed, { broken });
      expect(replayed.violations).toEqual(failed.violations);
      expect(replayed.digest).toBe(failed.digest);
    },
    120_000,
  );

  it('GIVEN a failing schedule THEN the report names its seed and the command that replays it', async () => {
    const failed = await firstFailing('no-floor', 'order', 100);
    const summary = await runSchedules(failed.seed, 1, { broken: 'no-floor' });
    const report = formatSummary(summary);
    expect(summary.failedSchedules).toBe(1);
    expect(report).toContain(`FAILED seed ${failed.seed} (`);
    expect(report).toContain(`npm run simulate -- --seed ${failed.seed} --schedules 1 --broken no-floor`);
    expect(replayCommand(7)).toBe('npm run simulate -- --seed 7 --schedules 1');
  });
});

describe('InvariantChecker', () => {
  const codec = new IdCodec(DEFAULT_LAYOUT);
  const a: NodeId = { datacenterId: 1, workerId: 2 };
  const b: NodeId = { datacenterId: 1, workerId: 3 };
  const run = (tick: number, firstSequence: number, count: number): Allocation => ({
    kind: 'ids',
    tick,
    firstSequence,
    count,
  });

  interface Case {
    readonly name: string;
    readonly grants: readonly (readonly [NodeId, Allocation])[];
    readonly kinds: readonly ViolationKind[];
  }

  it.each<Case>([
    {
      name: 'ascending runs of one node',
      grants: [
        [a, run(10, 0, 5)],
        [a, run(10, 5, 5)],
        [a, run(11, 0, 1)],
      ],
      kinds: [],
    },
    {
      name: 'the same tick and sequences on two nodes',
      grants: [
        [a, run(10, 0, 5)],
        [b, run(10, 0, 5)],
      ],
      kinds: [],
    },
    {
      name: 'the same run twice',
      grants: [
        [a, run(10, 0, 5)],
        [a, run(10, 0, 5)],
      ],
      kinds: ['order', 'duplicate'],
    },
    {
      name: 'a run overlapping the end of another',
      grants: [
        [a, run(10, 0, 5)],
        [a, run(10, 4, 2)],
      ],
      kinds: ['order', 'duplicate'],
    },
    {
      name: 'a run overlapping the start of another',
      grants: [
        [a, run(10, 4, 4)],
        [a, run(10, 0, 5)],
      ],
      kinds: ['order', 'duplicate'],
    },
    {
      name: 'a lower run that does not overlap',
      grants: [
        [a, run(11, 0, 1)],
        [a, run(10, 0, 5)],
      ],
      kinds: ['order'],
    },
  ])('GIVEN $name THEN it reports $kinds', ({ grants, kinds }) => {
    const clock = new FakeClock(DEFAULT_LAYOUT.epochMs);
    const checker = new InvariantChecker(codec, () => clock.nowMs());
    for (const [node, grant] of grants) {
      const generator = new Generator(codec, node, clock, { maxBackwardsMs: 0 });
      checker.granted(generator, grant, node, `node ${node.workerId}`);
    }
    expect(checker.violations.map((v) => v.kind)).toEqual(kinds);
    expect(checker.idsChecked).toBe(grants.reduce((sum, [, g]) => sum + g.count, 0));
  });
});

describe('Prng', () => {
  it('GIVEN one seed THEN the same stream; GIVEN neighbouring seeds THEN different streams', () => {
    const draw = (seed: number) => {
      const rng = new Prng(seed);
      return Array.from({ length: 5 }, () => rng.next());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('GIVEN int(lo, hi) THEN every value is within [lo, hi] and both ends occur', () => {
    const rng = new Prng(1);
    const seen = new Set(Array.from({ length: 1000 }, () => rng.int(3, 6)));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });
});
