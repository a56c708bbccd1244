/**
 * A source of time for the generator. The core never reads time any other way, so tests can step,
 * freeze and rewind it.
 */
export interface Clock {
  /** Current time in ms since the Unix epoch; may be fractional. */
  nowMs(): number;
}
