import { PreciseTimer } from '../../src/precise-timer';

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

/** Sleeps `ms` on `timer` and returns how long it took, in ms. */
async function timed(timer: PreciseTimer, ms: number): Promise<number> {
  const start = monotonicMs();
  await timer.sleep(ms);
  return monotonicMs() - start;
}

describe('PreciseTimer', () => {
  it.each([0.05, 0.3, 0.99, 1.5, 2, 5.25])(
    'GIVEN a sleep of %d ms THEN it never ends before the deadline',
    async (ms) => {
      const timer = new PreciseTimer();
      for (let i = 0; i < 5; i++) expect(await timed(timer, ms)).toBeGreaterThanOrEqual(ms);
    },
  );

  it('GIVEN many overlapping sleeps THEN every one ends, none before its own deadline', async () => {
    const timer = new PreciseTimer();
    const asked = Array.from({ length: 60 }, (_, i) => ((i * 7) % 30) / 10);
    const took = await Promise.all(asked.map((ms) => timed(timer, ms)));
    took.forEach((t, i) => {
      expect(t).toBeGreaterThanOrEqual(asked[i]!);
    });
  });

  it('GIVEN 0 or a negative time THEN it yields once and resolves', async () => {
    const timer = new PreciseTimer();
    let yielded = false;
    const sleep = timer.sleep(-1).then(() => yielded);
    yielded = true;
    expect(await sleep).toBe(true);
    await timer.sleep(0);
  });
});
