import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatMiB, formatNumber, formatPercent } from './stats';

/** The machine a run happened on; ratios are only comparable within one run. */
export interface MachineInfo {
  readonly cpuModel: string;
  /** Logical cores the OS reports. */
  readonly cores: number;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly totalMemoryBytes: number;
  /** 1-minute load average when the run started: well above 0 means the machine was not idle. */
  readonly loadAverageAtStart: number;
  /** ISO 8601 start time of the run. */
  readonly date: string;
}

/** Collects {@link MachineInfo} now. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryBytes: os.totalmem(),
    loadAverageAtStart: os.loadavg()[0] ?? NaN,
    date: new Date().toISOString(),
  };
}

/** A pass condition on a figure's ratio to its baseline. */
export interface Target {
  /** `>=`: ratio must be at least `ratio`; `<=`: at most; `±`: within 1 ± `ratio`. */
  readonly op: '>=' | '<=' | '±';
  readonly ratio: number;
}

/** True when `ratio` meets `target`. */
function meets(ratio: number, target: Target): boolean {
  if (target.op === '>=') return ratio >= target.ratio;
  if (target.op === '<=') return ratio <= target.ratio;
  return Math.abs(ratio - 1) <= target.ratio;
}

/** One measured figure: a row of the table and an entry of the JSON. */
export interface Figure {
  /** Stable key for tooling, e.g. `batch_ids.count_10000`. */
  readonly id: string;
  /** What was measured, for people. */
  readonly name: string;
  readonly value: number;
  /** Unit of value and baseline (`IDs/s`, `calls/s`, `ns/ID`, `bytes`). */
  readonly unit: string;
  /** The comparison point measured in the same run (or the layout's limit); undefined for info rows. */
  readonly baseline: number | undefined;
  readonly baselineName: string;
  /** value / baseline. */
  readonly ratio: number | undefined;
  /** Undefined for figures reported for context only. */
  readonly target: Target | undefined;
  /** Undefined when there is no target. */
  readonly pass: boolean | undefined;
  /** Short context printed in the table (latencies, CPU use, checks). */
  readonly notes: string;
  /** Everything else measured, for the JSON. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Builds a figure, computing ratio and pass from value, baseline and target. */
export function figure(
  fields: Omit<Figure, 'ratio' | 'pass'> & { readonly extraPassCondition?: boolean },
): Figure {
  const { extraPassCondition, ...rest } = fields;
  const ratio = fields.baseline === undefined ? undefined : fields.value / fields.baseline;
  let pass: boolean | undefined;
  if (fields.target !== undefined && ratio !== undefined) {
    pass = meets(ratio, fields.target) && extraPassCondition !== false;
  }
  return { ...rest, ratio, pass };
}

/** A report: machine, settings and figures. */
export interface Report {
  readonly title: string;
  readonly machine: MachineInfo;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly figures: readonly Figure[];
  readonly durationSeconds: number;
}

/** The report as text: a machine header and one table. */
export function formatReport(report: Report): string {
  const m = report.machine;
  const header = [
    report.title,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.platform}`,
    `node ${m.node} (V8 ${m.v8}), ${m.date}, load average at start ${m.loadAverageAtStart.toFixed(2)}, ` +
      `run took ${report.durationSeconds.toFixed(0)} s`,
    `settings: ${Object.entries(report.settings)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ')}`,
  ];
  const rows = report.figures.map((f) => [
    f.name,
    f.unit === 'bytes' ? formatValue(f.value, f.unit) : `${formatValue(f.value, f.unit)} ${f.unit}`,
    f.baseline === undefined ? '—' : `${formatValue(f.baseline, f.unit)} (${f.baselineName})`,
    f.ratio === undefined ? '—' : formatPercent(f.ratio),
    f.target === undefined
      ? '—'
      : f.target.op === '±'
        ? `100 ± ${formatPercent(f.target.ratio)}`
        : `${f.target.op} ${formatPercent(f.target.ratio)}`,
    f.pass === undefined ? 'info' : f.pass ? 'PASS' : 'FAIL',
    f.notes,
  ]);
  return [
    ...header,
    '',
    ...table(['figure', 'ours', 'baseline', 'ratio', 'target', 'result', 'notes'], rows),
  ].join('\n');
}

/** Writes `value` as indented JSON to `file` (creating its folder). */
export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Writes `json` to `file`, prints the report table and where it went, and returns the exit code:
 * 1 when any figure misses its target, else 0.
 */
export function publish(report: Report, file: string, json: unknown = report): number {
  writeJson(file, json);
  process.stdout.write(`${formatReport(report)}\n\nwritten to ${path.relative(process.cwd(), file)}\n`);
  return report.figures.some((f) => f.pass === false) ? 1 : 0;
}

/** Runs a benchmark entry point: its result is the exit code; a crash prints `<name> failed: …` and exits 2. */
export function runMain(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 2;
    },
  );
}

function formatValue(v: number, unit: string): string {
  if (unit === 'bytes') return formatMiB(v);
  return formatNumber(v, unit === 'ns/ID' ? 1 : 0);
}

/** A Markdown-compatible table (pipes and a dashed separator), columns padded to their widest cell. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}
