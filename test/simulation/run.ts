import type { ViolationKind } from './checker';
import { runSchedule, type ScheduleOptions, type ScheduleResult } from './schedule';
import { addCounters, count, type Counters } from './world';

/** A schedule that broke an invariant, with what to run to see it again. */
export interface FailedSchedule {
  readonly seed: number;
  readonly kinds: readonly ViolationKind[];
  readonly first: string;
  readonly replay: string;
}

/** Totals over many schedules (plain data: it crosses worker threads). */
export interface RunSummary {
  schedules: number;
  ids: number;
  steps: number;
  simulatedMs: number;
  /** Schedules per mode. */
  modes: Counters;
  /** `fault.*`, `event.*`, `refused.*`, `calls.ok` counters. */
  counters: Counters;
  /** Failing schedules (the first {@link MAX_FAILURES_KEPT}). */
  failures: FailedSchedule[];
  /** All failing schedules, by violation kind. */
  violationsByKind: Counters;
  failedSchedules: number;
  /** Real time spent, ms. */
  elapsedMs: number;
}

const MAX_FAILURES_KEPT = 20;

/** An empty summary. */
export function emptySummary(): RunSummary {
  return {
    schedules: 0,
    ids: 0,
    steps: 0,
    simulatedMs: 0,
    modes: {},
    counters: {},
    failures: [],
    violationsByKind: {},
    failedSchedules: 0,
    elapsedMs: 0,
  };
}

/** The command that replays schedule `seed` alone, with the same options. */
export function replayCommand(seed: number, options: ScheduleOptions = {}): string {
  const broken = options.broken === undefined ? '' : ` --broken ${options.broken}`;
  const calm = options.calm === true ? ' --calm' : '';
  return `npm run simulate -- --seed ${seed} --schedules 1${broken}${calm}`;
}

/** Adds one schedule's result to `summary`. */
export function addResult(summary: RunSummary, result: ScheduleResult, options: ScheduleOptions = {}): void {
  summary.schedules++;
  summary.ids += result.ids;
  summary.steps += result.steps;
  summary.simulatedMs += result.simulatedMs;
  count(summary.modes, result.mode);
  addCounters(summary.counters, result.counters);
  if (result.violations.length === 0) return;
  summary.failedSchedules++;
  const kinds = [...new Set(result.violations.map((v) => v.kind))];
  for (const kind of kinds) count(summary.violationsByKind, kind);
  if (summary.failures.length < MAX_FAILURES_KEPT) {
    const first = result.violations[0];
    summary.failures.push({
      seed: result.seed,
      kinds,
      first: first === undefined ? '' : `${first.kind} at t=${first.atMs.toFixed(3)} ms: ${first.message}`,
      replay: replayCommand(result.seed, options),
    });
  }
}

/** Adds `from` into `into`. */
export function mergeSummary(into: RunSummary, from: RunSummary): void {
  into.schedules += from.schedules;
  into.ids += from.ids;
  into.steps += from.steps;
  into.simulatedMs += from.simulatedMs;
  addCounters(into.modes, from.modes);
  addCounters(into.counters, from.counters);
  addCounters(into.violationsByKind, from.violationsByKind);
  into.failedSchedules += from.failedSchedules;
  for (const f of from.failures) if (into.failures.length < MAX_FAILURES_KEPT) into.failures.push(f);
}

/**
 * Runs schedules `firstSeed`, `firstSeed + 1`, … (`count` of them; seeds wrap at 2^32), or up to the
 * first that fails when `stopAtFailure`. Yields to the event loop every few schedules; nothing in a
 * schedule depends on real time, so that changes nothing.
 */
export async function runSchedules(
  firstSeed: number,
  scheduleCount: number,
  options: ScheduleOptions = {},
  onProgress?: (summary: RunSummary) => void,
  stopAtFailure = false,
): Promise<RunSummary> {
  const summary = emptySummary();
  const started = performance.now();
  // Refusals are errors created by the thousand; their stack traces are never read here, and capturing
  // them was the largest single cost. Restored before returning (other tests may run in this process).
  const stackTraceLimit = Error.stackTraceLimit;
  try {
    for (let i = 0; i < scheduleCount; i++) {
      Error.stackTraceLimit = 0;
      const result = await runSchedule((firstSeed + i) >>> 0, options);
      addResult(summary, result, options);
      if (stopAtFailure && result.violations.length > 0) break;
      if (i % 64 === 63) {
        summary.elapsedMs = performance.now() - started;
        onProgress?.(summary);
        Error.stackTraceLimit = stackTraceLimit;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  summary.elapsedMs = performance.now() - started;
  return summary;
}

/** The report: totals, faults injected by kind, what they led to, and every failing seed with its replay. */
export function formatSummary(summary: RunSummary): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines = [
    `schedules run        ${n(summary.schedules)} (${Object.entries(summary.modes)
      .map(([mode, c]) => `${mode} ${n(c)}`)
      .join(', ')})`,
    `IDs checked          ${n(summary.ids)}`,
    `events simulated     ${n(summary.steps)} over ${n(Math.round(summary.simulatedMs / 1000))} simulated s`,
    `failing schedules    ${n(summary.failedSchedules)}${Object.entries(summary.violationsByKind)
      .map(([k, c]) => `  ${k}: ${n(c)}`)
      .join('')}`,
    `duplicates           ${n(summary.violationsByKind.duplicate ?? 0)} schedules with a duplicate ID`,
    `wall time            ${(summary.elapsedMs / 1000).toFixed(1)} s`,
    '',
    'faults injected:',
    ...section(summary.counters, 'fault.'),
    'what they led to:',
    ...section(summary.counters, 'event.'),
    'calls:',
    ...section(summary.counters, 'calls.'),
    ...section(summary.counters, 'refused.', 'refused '),
  ];
  for (const f of summary.failures) {
    lines.push(
      '',
      `FAILED seed ${f.seed} (${f.kinds.join(', ')}): ${f.first}`,
      `  replay: ${f.replay}   (add --trace for the event log)`,
    );
  }
  return lines.join('\n');
}

function section(counters: Counters, prefix: string, label = ''): string[] {
  return Object.entries(counters)
    .filter(([name]) => name.startsWith(prefix))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, c]) => `  ${(label + name.slice(prefix.length)).padEnd(48)} ${c.toLocaleString('en-US')}`);
}
