import type { ErrorCode } from '@snowflake-id/client/contract';

/** Base class of every error this service raises on purpose; `code` is stable, `message` is for humans. */
export class SnowflakeError extends Error {
  /** The stable code; see {@link ErrorCode}. */
  readonly code: ErrorCode;
  /**
   * Machine-readable facts about this error (sent as `google.rpc.ErrorInfo.metadata`), e.g. the allowed
   * range; lowerCamelCase keys, decimal strings for numbers. Empty when the code says it all.
   */
  readonly facts: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, facts: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'SnowflakeError';
    this.code = code;
    this.facts = facts;
  }
}

/**
 * The service cannot guarantee uniqueness right now and refuses to issue IDs (gRPC UNAVAILABLE, health
 * NOT_SERVING) until the condition clears.
 */
export class RefusalError extends SnowflakeError {}

/** A bit layout, epoch or time unit that cannot describe valid IDs (raised at boot). */
export class InvalidLayoutError extends SnowflakeError {
  constructor(message: string) {
    super('INVALID_LAYOUT', message);
  }
}

/** An ID that cannot have been issued under any layout (sign bit set); facts as the caller gives them. */
export class InvalidIdError extends SnowflakeError {
  constructor(message: string, facts: Readonly<Record<string, string>> = {}) {
    super('INVALID_ID', message, facts);
  }
}

/**
 * The clock is further behind the last issued timestamp than the configured bound allows waiting for;
 * facts `behindMs` and `maxWaitMs`.
 */
export class ClockMovedBackwardsError extends RefusalError {
  /** How far behind the last issued timestamp the clock is, in ms. */
  readonly behindMs: number;

  /** `boundName`: what the message calls the bound `maxWaitMs` (e.g. the setting that chose it). */
  constructor(behindMs: number, maxWaitMs: number, boundName: string) {
    super(
      'CLOCK_MOVED_BACKWARDS',
      `clock is ${behindMs} ms behind the last issued timestamp, more than the ${maxWaitMs} ms ` +
        `(${boundName}) this server waits out; refusing to issue IDs until it catches up`,
      { behindMs: String(behindMs), maxWaitMs: String(maxWaitMs) },
    );
    this.behindMs = behindMs;
  }
}

/** The timestamp field cannot represent the current time: the layout's lifetime is over. */
export class TimeOverflowError extends RefusalError {
  constructor(message: string) {
    super('TIME_OVERFLOW', message);
  }
}

/**
 * The wall clock disagrees with the monotonic ID time base by more than the allowed skew; facts as the
 * caller gives them.
 */
export class ClockSkewError extends RefusalError {
  constructor(message: string, facts: Readonly<Record<string, string>> = {}) {
    super('CLOCK_SKEW', message, facts);
  }
}
