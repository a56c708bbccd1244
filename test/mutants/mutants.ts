/**
 * One named source mutation of a real module: `search` (which must occur exactly once in `file`) is
 * replaced by `replace`. Each is a bug that could produce a duplicate ID, or stop a machine for good,
 * and something must catch it: the simulation (seeds 1…`schedules`) or one of `tests`.
 */
export interface Mutant {
  /** Kebab-case name, for `--only`. */
  readonly name: string;
  /** The bug, in one line. */
  readonly description: string;
  /** Path from the repository root. */
  readonly file: string;
  readonly search: string;
  readonly replace: string;
  /** Schedules the simulation runs, seeds 1 to this, stopping at the first that fails. */
  readonly schedules: number;
  /** Jest test files (from the repository root) that must fail too; run whether or not the simulation caught it. */
  readonly tests?: readonly string[];
  /**
   * Why this mutant cannot produce a duplicate (an equivalent mutant; the README's Guarantees section
   * gives the argument): not being caught is then expected, not a gap. It still runs, so that a catch
   * shows the argument has gone stale.
   */
  readonly equivalent?: string;
}

/** Seeds the simulation needs to catch the rarest mutant with room to spare (see the README table). */
const SCHEDULES = 3000;

/** The mutants `npm run mutants` applies, one at a time. */
export const MUTANTS: readonly Mutant[] = [
  {
    name: 'fence-from-answer-time',
    description: "a keepalive round extends the fence from etcd's answer time instead of the send time",
    file: 'src/worker-id/etcd/etcd-claim.ts',
    search: `        this.lostByTakeover(kv);
        return;
      }
      fence.keepaliveAcked(sentAtMs);`,
    replace: `        this.lostByTakeover(kv);
        return;
      }
      const answeredAtMs = now();
      fence.keepaliveSent(answeredAtMs);
      fence.keepaliveAcked(answeredAtMs);`,
    schedules: SCHEDULES,
  },
  {
    name: 'keepalive-failure-extends-fence',
    description: 'a keepalive round that got no answer still extends the fence',
    file: 'src/worker-id/etcd/etcd-claim.ts',
    search: `      error = err;
    }`,
    replace: `      error = err;
      fence.keepaliveAcked(sentAtMs);
    }`,
    schedules: SCHEDULES,
  },
  {
    name: 'claim-without-create-revision-guard',
    description: 'the claim transaction puts the worker key without its create_revision == 0 compare',
    file: 'src/worker-id/etcd/etcd-claim.ts',
    search: `{ compares: [{ key, createRevision: '0' }], key,`,
    replace: `{ compares: [], key,`,
    schedules: SCHEDULES,
  },
  {
    name: 'fence-without-margin',
    description: 'an acknowledged keepalive extends the fence to the full TTL, without the margin',
    file: 'src/worker-id/etcd/fence.ts',
    search: `this.deadlineMs = Math.max(this.deadlineMs, sentAtMs + this.ttlMs - this.marginMs);`,
    replace: `this.deadlineMs = Math.max(this.deadlineMs, sentAtMs + this.ttlMs);`,
    schedules: SCHEDULES,
    tests: ['test/unit/fence.test.ts'],
  },
  {
    name: 'grant-ignores-fence',
    description: "the session's gate lets grants through once the fence has lapsed",
    file: 'src/engine/session.ts',
    search: `    if (!this.leaseValid) {`,
    replace: `    if (!this.leaseValid && this.closed) {`,
    schedules: SCHEDULES,
    tests: ['test/unit/session.test.ts'],
  },
  {
    name: 'ceiling-before-write',
    description: 'the ceiling moves when a reservation write starts, not once it is durable',
    file: 'src/state/reservation-keeper.ts',
    search: `    const untilMs = Math.ceil(requestedMs);
    const write = this.store.write(untilMs).then(`,
    replace: `    const untilMs = Math.ceil(requestedMs);
    this.target.setCeiling(untilMs);
    const write = this.store.write(untilMs).then(`,
    schedules: SCHEDULES,
    tests: ['test/unit/reservation-keeper.test.ts'],
  },
  {
    name: 'ceiling-without-coordinator-write',
    description: 'the ceiling moves once the state file has the reservation; the etcd write is not awaited',
    file: 'src/engine/session.ts',
    search: `          await Promise.all([stateFile.write(untilMs), claim.storeReservation(untilMs)]);`,
    replace: `          void claim.storeReservation(untilMs).catch(() => undefined);
          await stateFile.write(untilMs);`,
    schedules: SCHEDULES,
    tests: ['test/unit/session.test.ts'],
  },
  {
    name: 'floor-without-coordinator-reservation',
    description: "the session's floor leaves out the reservation earlier holders left in etcd",
    file: 'src/engine/session.ts',
    search: `Math.max(fromFile.reservedUntilMs, claim.previousReservationMs, notBeforeMs)`,
    replace: `Math.max(fromFile.reservedUntilMs, notBeforeMs)`,
    schedules: SCHEDULES,
    tests: ['test/unit/session.test.ts'],
  },
  {
    name: 'floor-without-state-file-reservation',
    description: "the session's floor leaves out the state file's reservation",
    file: 'src/engine/session.ts',
    search: `Math.max(fromFile.reservedUntilMs, claim.previousReservationMs, notBeforeMs)`,
    replace: `Math.max(claim.previousReservationMs, notBeforeMs)`,
    schedules: SCHEDULES,
    tests: ['test/unit/session.test.ts'],
  },
  {
    name: 'keeper-starts-from-state-file-with-remote',
    description: "the keeper starts from the state file's reservation although etcd keeps one too",
    file: 'src/engine/session.ts',
    search: `this.keeper.init(remote === undefined ? fromFile.reservedUntilMs : 0);`,
    replace: `this.keeper.init(fromFile.reservedUntilMs);`,
    schedules: SCHEDULES,
    equivalent:
      "the floor already includes the state file's reservation, so a ceiling there admits no tick: the first " +
      'grant still waits for a write that reaches etcd',
  },
  {
    name: 'sequence-wraps',
    description: 'an exhausted sequence wraps to 0 within the tick instead of waiting for the next tick',
    file: 'src/core/generator.ts',
    search: `      return { kind: 'wait', reason: 'sequence_exhausted', ms: this.startOfTick(tick + 1) - now };`,
    replace: `      this.nextSequence = 0;`,
    schedules: SCHEDULES,
    tests: ['test/unit/generator.test.ts'],
  },
  {
    name: 'clock-behind-accepted',
    description: 'a clock behind the last issued tick is taken as a new tick',
    file: 'src/core/generator.ts',
    search: `      return { kind: 'wait', reason: 'clock_behind', ms: this.behindMs(now) };`,
    replace: `      this.lastTick = tick;
      this.nextSequence = 0;`,
    schedules: SCHEDULES,
    tests: ['test/unit/generator.test.ts'],
  },
  {
    name: 'time-base-follows-backward-step',
    description: 'the time base re-anchors to a wall clock stepped back beyond the bound instead of refusing',
    file: 'src/core/time-base.ts',
    search: `        action = 'refusing';
        this.refusing = true;`,
    replace: `        action = 'reanchored-after-catch-up';
        this.offsetMs += skew;
        base = wall;
        this.refusing = false;`,
    schedules: SCHEDULES,
    tests: ['test/unit/time-base.test.ts'],
  },
  {
    name: 'state-file-no-fsync-before-rename',
    description: 'the state file is renamed over the old one without fsyncing its content first',
    file: 'src/state/state-file.ts',
    search: `        await file.sync();\n`,
    replace: ``,
    schedules: SCHEDULES,
    tests: ['test/unit/state-dir.test.ts'],
  },
  {
    name: 'state-file-no-directory-fsync',
    description: 'a state-file write resolves without fsyncing the directory, so the rename may not survive',
    file: 'src/state/state-file.ts',
    search: `        await dir.sync();\n`,
    replace: ``,
    schedules: SCHEDULES,
    tests: ['test/unit/state-dir.test.ts'],
  },
  {
    name: 'reclaim-floor-ignores-issued',
    description: "after a lost claim, the new session's floor leaves out what the lost session issued",
    file: 'src/engine/supervisor.ts',
    search: `const notBeforeMs = Math.max(lost.generator.issuedUntilMs, lost.floorMs);`,
    replace: `const notBeforeMs = lost.floorMs;`,
    schedules: SCHEDULES,
    tests: ['test/unit/supervisor.test.ts'],
  },
  {
    name: 'revoke-before-drain',
    description: 'stop revokes the lease before in-flight calls have drained',
    file: 'src/engine/supervisor.ts',
    search: `    await drain();`,
    replace: `    await this.current?.claim.release();
    await drain();`,
    schedules: SCHEDULES,
    tests: ['test/unit/supervisor.test.ts'],
  },
];
