import * as fs from 'node:fs';
import { ArgumentError } from './argument-error';
import { layoutProblem, type Layout } from '../contract';

/** The layout's fields, in the order they are read. */
const FIELDS: readonly (keyof Layout)[] = [
  'epochMs',
  'timeUnitMs',
  'timestampBits',
  'datacenterBits',
  'workerBits',
  'sequenceBits',
];

/**
 * The layout in the JSON file `file`, as `snowflake info --json` prints it (other keys are ignored;
 * `epochMs` as a number or a decimal string). Throws {@link ArgumentError} naming the file and the first
 * field that is missing or not an integer, or what the contract's `layoutProblem` (the servers' rules)
 * refuses.
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
  for (const name of FIELDS) {
    const raw = fields[name];
    const value = typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ArgumentError(
        `--layout ${file}: ${name} must be an integer; got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`,
      );
    }
    layout[name] = value;
  }
  const result = layout as Layout;
  const problem = layoutProblem(result);
  if (problem !== undefined) throw new ArgumentError(`--layout ${file}: ${problem}`);
  return result;
}
