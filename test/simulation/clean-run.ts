import { formatSummary, type RunSummary } from './run';
import { FAULT_KINDS } from './schedule';

/**
 * Throws the full report (every failing seed with its replay command) if any schedule broke an
 * invariant, or if the run did not exercise what it should: a fault kind never injected, no lease ever
 * expiring, no crash landing mid-write, no power loss undoing a rename, too few IDs — a vacuous pass.
 */
export function assertClean(summary: RunSummary, schedules: number): void {
  if (summary.failedSchedules > 0) {
    throw new Error(`${summary.failedSchedules} schedule(s) broke an invariant:\n${formatSummary(summary)}`);
  }
  const missing = [
    ...FAULT_KINDS.map((kind) => `fault.${kind}`),
    'fault.burst over 4096 IDs in one ms',
    'fault.etcd clock runs fast',
    'event.lease expired in etcd',
    'event.re-claimed',
    'event.worker ID moved to another machine',
    'event.crash between two calls of a write',
    'event.crash during a disk call',
    'event.power loss undid a rename',
    'event.power loss lost unsynced data',
    'calls.ok',
  ].filter((name) => (summary.counters[name] ?? 0) === 0);
  if (summary.schedules !== schedules || missing.length > 0 || summary.ids < schedules * 100) {
    throw new Error(
      `the run did not exercise what it should (${summary.schedules} of ${schedules} schedules; ` +
        `${summary.ids} IDs; never: ${missing.join(', ') || '-'}):\n${formatSummary(summary)}`,
    );
  }
}
