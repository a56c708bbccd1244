import * as fs from 'node:fs';
import { ArgumentError } from './argument-error';
import type { Layout } from '../contract';

/** Each layout field's allowed range (the contract's `Layout`), checked in this order. */
const RANGES: readonly (readonly [keyof Layout, number, number])[] = [
  ['epochMs', 0, Number.MAX_SAFE_INTEGER],
  ['timeUnitMs', 1, 86_400_000],
  ['timestampBits', 1, 63],
  ['datacenterBits', 0, 31],
  ['workerBits', 0, 31],
  ['sequenceBits', 0, 31],
];

/**
 * The layout in the JSON file `file`, as `snowflake info --json` prints it (other keys are ignored;
 * `epochMs` as a number or a decimal string). Throws {@link ArgumentError} naming the file and the first
 * field that is missing or out of range, or the widths when they do not sum to 63.
 */
export function readLayoutFile(file: string): Layout {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ArgumentError(`--layout ${file}: cannot be read (${code ?? String(err)})`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ArgumentError(`--layout ${file}: not JSON (expected the output of "snowflake info --json")`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ArgumentError(
      `--layout ${file}: not a JSON object (expected the output of "snowflake info --json")`,
    );
  }
  const fields = parsed as Record<string, unknown>;
  const layout: Partial<Record<keyof Layout, number>> = {};
  for (const [name, min, max] of RANGES) {
    const raw = fields[name];
    const value = typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new ArgumentError(
        `--layout ${file}: ${name} must be an integer from ${min} to ${max}; got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`,
      );
    }
    layout[name] = value;
  }
  const result = layout as Layout;
  const widths = [result.timestampBits, result.datacenterBits, result.workerBits, result.sequenceBits];
  if (widths.reduce((a, b) => a + b, 0) !== 63) {
    throw new ArgumentError(
      `--layout ${file}: the widths (timestamp | datacenter | worker | sequence) must sum to 63; got ${widths.join(' | ')}`,
    );
  }
  return result;
}
