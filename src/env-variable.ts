import { z } from 'zod';

/** One environment variable: its name, default (as text), allowed values and meaning, for --help and the README. */
export interface VariableDoc {
  readonly name: string;
  readonly defaultValue: string;
  readonly allowed: string;
  readonly description: string;
}

/**
 * One entry of the configuration table: how a variable is documented and parsed. A value missing from
 * the environment is parsed from `doc.defaultValue`, so the documented default is the one applied.
 */
export interface EnvVariable {
  readonly doc: Omit<VariableDoc, 'name'>;
  readonly schema: z.ZodType<unknown, string>;
  /** A secret: its value is never shown, not even in a config error. */
  readonly secret?: true;
}

/** The parsed values of a set of {@link EnvVariable}s, by name. */
export type EnvValues<V extends Readonly<Record<string, EnvVariable>>> = {
  readonly [K in keyof V]: V[K]['schema'] extends z.ZodType<infer T, string> ? T : never;
};

/** The environment as the process sees it: variable name → value, undefined when unset. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A non-empty string; the messages name what is `allowed`. */
export const text = (allowed: string) =>
  z.string({ error: `must be ${allowed}` }).min(1, `must not be empty (allowed: ${allowed})`);

/** A whole number from `min` to `max` written in decimal digits only (no sign, exponent or spaces). */
export const integer = (min: number, max: number) => {
  const allowed = `an integer from ${min} to ${max}`;
  return text(allowed)
    .regex(/^\d+$/, `must be ${allowed}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be ${allowed}`).max(max, `must be ${allowed}`));
};
