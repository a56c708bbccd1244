import type { ResolvedPrefetch } from './options';

/** What a {@link PrefetchPool} holds when it asks its policy for a refill. */
export interface PoolLevels {
  /** IDs buffered and not yet handed out. */
  readonly buffered: number;
  /** IDs requested by the refills in flight. */
  readonly inFlightIds: number;
  /** Refills (BatchIds calls) in flight. */
  readonly inFlightRefills: number;
  /** Callers waiting for an ID (only while nothing is buffered). */
  readonly waiting: number;
  /** IDs asked for since the pool was made (handed out at once or queued): the demand counter. */
  readonly demanded: number;
}

/** The current plan of a {@link RefillPolicy}, for stats and tests. */
export interface RefillPlan {
  /** A refill starts when buffered + in flight − waiting falls below this many IDs. */
  readonly lowWaterMark: number;
  /** IDs a refill asks for (more when callers wait; less near the memory cap). */
  readonly batchSize: number;
  /** Most refills in flight at once. */
  readonly maxRefillsInFlight: number;
}

/**
 * Decides when the prefetch buffer refills, by how much and how many refills run at once. Pure: no I/O
 * and no clock of its own; times are monotonic ms handed in by the pool.
 */
export interface RefillPolicy {
  /** The current plan; the pool reads `lowWaterMark` and `maxRefillsInFlight` on every take. */
  readonly plan: RefillPlan;
  /** True when the policy wants the servers' max_batch_size (GetInfo) and BATCH_SIZE_OUT_OF_RANGE limits. */
  readonly learnsBatchSize: boolean;
  /** IDs the next refill should request at `nowMs`, or 0 for none; the pool asks again after starting one. */
  refillSize(levels: PoolLevels, nowMs: number): number;
  /** A refill answered after `durationMs` (its round trip, retries included). */
  refilled(durationMs: number): void;
  /** A caller found nothing buffered and waits for a refill. */
  starved(): void;
  /** A server accepts BatchIds counts up to `maxBatchSize` (≥ 1); the smallest limit learned wins. */
  limitBatchSize(maxBatchSize: number): void;
}

/**
 * The fixed buffer of `prefetch.bufferSize` / `prefetch.lowWaterMark`: one refill at a time, topping the
 * buffer up to `bufferSize` when fewer than `lowWaterMark` IDs remain or a caller waits.
 */
export class FixedRefillPolicy implements RefillPolicy {
  readonly plan: RefillPlan;
  readonly learnsBatchSize = false;
  private readonly bufferSize: number;

  /** `bufferSize` ≥ 1; `lowWaterMark` from 0 to bufferSize − 1. */
  constructor(bufferSize: number, lowWaterMark: number) {
    this.bufferSize = bufferSize;
    this.plan = { lowWaterMark, batchSize: bufferSize, maxRefillsInFlight: 1 };
  }

  refillSize(levels: PoolLevels): number {
    if (levels.inFlightRefills > 0) return 0;
    if (levels.waiting === 0 && levels.buffered >= this.plan.lowWaterMark) return 0;
    return Math.max(0, this.bufferSize - levels.buffered);
  }

  refilled(): void {
    // A fixed buffer does not adapt.
  }

  starved(): void {
    // A fixed buffer does not adapt.
  }

  limitBatchSize(): void {
    // The user chose bufferSize; a larger one than the servers accept fails loudly instead.
  }
}

/** Limits of an {@link AdaptiveRefillPolicy}. */
export interface AdaptivePolicyOptions {
  /** The buffer's maxAgeMs (> 0, may be Infinity): IDs should be used well before they reach it. */
  readonly maxAgeMs: number;
  /** Memory cap: most IDs buffered plus requested in flight; ≥ 1. */
  readonly maxBufferedIds: number;
  /** Servers the client spreads refills over (its addresses); ≥ 1. */
  readonly servers: number;
}

/** Demand assumed before anything was measured, in IDs per ms (1,000 IDs/s): a first refill of about 100. */
export const INITIAL_RATE_PER_MS = 1;
/** Round trip assumed before a refill was timed, in ms. */
export const INITIAL_ROUND_TRIP_MS = 10;
/** BatchIds count assumed until a server said otherwise: the servers' default max_batch_size. */
export const ASSUMED_MAX_BATCH_SIZE = 10_000;
/** Refills a policy keeps in flight per server at most: enough to keep a server's every ms busy. */
export const REFILLS_IN_FLIGHT_PER_SERVER = 4;
/**
 * The buffer holds at least this many round trips of demand (round trip = smoothed time plus four mean
 * deviations, as TCP's retransmission timeout): a slow answer does not leave callers waiting.
 */
export const HOLD_ROUND_TRIPS = 4;
/** ...and at least this many ms of demand: round trips on a busy machine jump by more than their spread shows. */
export const MIN_HOLD_MS = 100;
/**
 * A refill asks for this many ms of demand (up to max_batch_size): at most 10 refills per second per
 * client below max_batch_size × 10 IDs/s, however low the demand.
 */
export const REFILL_INTERVAL_MS = 100;
/** Hold and refill interval together stay within this share of maxAgeMs, so IDs are used before they expire. */
export const MAX_AGE_SHARE = 0.5;
/** Demand is sampled over at least this many ms (shorter windows of a bursty caller are noise). */
export const MIN_SAMPLE_MS = 2;
/** Time constant of the demand estimate when demand rises, in ms: it follows within a few tens of ms. */
export const RISE_TIME_CONSTANT_MS = 20;
/** Time constant when demand falls, in ms: a pause of a few ms does not shrink the buffer, a second does. */
export const FALL_TIME_CONSTANT_MS = 1000;

/**
 * Sizes refills from the observed demand and round trip, as Leaf's dynamic segment step and TCP's
 * windows do: the buffer holds enough for {@link HOLD_ROUND_TRIPS} round trips (at least
 * {@link MIN_HOLD_MS}) of demand, a refill asks for {@link REFILL_INTERVAL_MS} of demand, and as many
 * refills run at once as the hold needs (at most {@link REFILLS_IN_FLIGHT_PER_SERVER} per server).
 * Bounded by the servers' max_batch_size, by maxAgeMs ({@link MAX_AGE_SHARE}) and by the memory cap.
 * Demand is an exponentially weighted rate that rises fast and falls slowly; each time a caller has to
 * wait, the estimate doubles (once per refill answered), so a consumer faster than the estimate gets
 * there in a few round trips.
 */
export class AdaptiveRefillPolicy implements RefillPolicy {
  readonly learnsBatchSize = true;
  plan: RefillPlan;
  private readonly options: AdaptivePolicyOptions;
  /** Estimated demand, IDs per ms. */
  private ratePerMs = INITIAL_RATE_PER_MS;
  /** Smoothed round trip and its mean deviation, ms (RFC 6298); undefined until a refill answered. */
  private smoothedRttMs: number | undefined;
  private rttDeviationMs = 0;
  private sampleStartMs: number | undefined;
  private sampleStartDemand = 0;
  /** One doubling per answered refill: waits while a refill is on its way say nothing new. */
  private boostArmed = false;
  private serverMaxBatchSize: number | undefined;
  /** Demand (IDs per ms) from which the hold and the batch size are at their caps; set with the plan. */
  private saturationRatePerMs = Infinity;

  constructor(options: AdaptivePolicyOptions) {
    this.options = options;
    this.plan = this.computePlan();
  }

  /** Estimated demand in IDs per second. */
  get demandPerSecond(): number {
    return this.ratePerMs * 1000;
  }

  /** Smoothed round trip of a refill in ms; undefined until one answered. */
  get roundTripMs(): number | undefined {
    return this.smoothedRttMs;
  }

  refillSize(levels: PoolLevels, nowMs: number): number {
    this.sample(levels.demanded, nowMs);
    const { lowWaterMark, batchSize, maxRefillsInFlight } = this.plan;
    const available = levels.buffered + levels.inFlightIds - levels.waiting;
    if (available >= lowWaterMark || levels.inFlightRefills >= maxRefillsInFlight) return 0;
    const room = this.options.maxBufferedIds - levels.buffered - levels.inFlightIds;
    return Math.max(0, Math.min(Math.max(batchSize, lowWaterMark - available), this.maxBatchSize(), room));
  }

  refilled(durationMs: number): void {
    const d = Math.max(0, durationMs);
    if (this.smoothedRttMs === undefined) {
      this.smoothedRttMs = d;
      this.rttDeviationMs = d / 2;
    } else {
      this.rttDeviationMs = 0.75 * this.rttDeviationMs + 0.25 * Math.abs(this.smoothedRttMs - d);
      this.smoothedRttMs = 0.875 * this.smoothedRttMs + 0.125 * d;
    }
    this.boostArmed = true;
    this.plan = this.computePlan();
  }

  starved(): void {
    if (!this.boostArmed) return;
    this.boostArmed = false;
    // Beyond the rate at which every limit binds, a higher estimate would only take longer to fall.
    this.ratePerMs = Math.max(this.ratePerMs, Math.min(2 * this.ratePerMs, this.saturationRatePerMs));
    this.plan = this.computePlan();
  }

  limitBatchSize(maxBatchSize: number): void {
    this.serverMaxBatchSize = Math.min(this.serverMaxBatchSize ?? Infinity, Math.max(1, maxBatchSize));
    this.plan = this.computePlan();
  }

  private maxBatchSize(): number {
    return this.serverMaxBatchSize ?? ASSUMED_MAX_BATCH_SIZE;
  }

  /** Folds the demand since the last sample into the estimate, once at least MIN_SAMPLE_MS passed. */
  private sample(demanded: number, nowMs: number): void {
    if (this.sampleStartMs === undefined) {
      this.sampleStartMs = nowMs;
      this.sampleStartDemand = demanded;
      return;
    }
    const dt = nowMs - this.sampleStartMs;
    if (!(dt >= MIN_SAMPLE_MS)) return;
    const rate = (demanded - this.sampleStartDemand) / dt;
    const tau = rate > this.ratePerMs ? RISE_TIME_CONSTANT_MS : FALL_TIME_CONSTANT_MS;
    this.ratePerMs += (rate - this.ratePerMs) * (1 - Math.exp(-dt / tau));
    this.sampleStartMs = nowMs;
    this.sampleStartDemand = demanded;
    this.plan = this.computePlan();
  }

  private computePlan(): RefillPlan {
    const { maxAgeMs, maxBufferedIds, servers } = this.options;
    const rtoMs =
      this.smoothedRttMs === undefined ? INITIAL_ROUND_TRIP_MS : this.smoothedRttMs + 4 * this.rttDeviationMs;
    let holdMs = Math.max(HOLD_ROUND_TRIPS * rtoMs, MIN_HOLD_MS);
    let intervalMs = REFILL_INTERVAL_MS;
    const budgetMs = maxAgeMs * MAX_AGE_SHARE;
    if (holdMs + intervalMs > budgetMs) {
      const scale = budgetMs / (holdMs + intervalMs);
      holdMs *= scale;
      intervalMs *= scale;
    }
    // A refill must fit under the cap when it starts: at most half the cap per refill, and the low-water
    // mark leaves room for one (else, held at the cap, the buffer would refill one ID per take).
    const maxBatch = Math.min(this.maxBatchSize(), Math.max(1, Math.floor(maxBufferedIds / 2)));
    this.saturationRatePerMs = Math.max(maxBufferedIds / holdMs, maxBatch / intervalMs);
    const batchSize = clamp(Math.ceil(this.ratePerMs * intervalMs), 1, maxBatch);
    const lowWaterMark = clamp(
      Math.ceil(this.ratePerMs * holdMs),
      1,
      Math.max(1, maxBufferedIds - batchSize),
    );
    const maxRefillsInFlight = clamp(
      Math.ceil(lowWaterMark / batchSize),
      1,
      REFILLS_IN_FLIGHT_PER_SERVER * servers,
    );
    return { lowWaterMark, batchSize, maxRefillsInFlight };
  }
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(Math.max(v, min), max);
}

/**
 * The policy of a buffer resolved from `prefetch` options (`mode` fixed or adaptive); `servers` is the
 * number of addresses refills spread over.
 */
export function refillPolicy(p: Exclude<ResolvedPrefetch, { mode: 'off' }>, servers: number): RefillPolicy {
  if (p.mode === 'fixed') return new FixedRefillPolicy(p.bufferSize, p.lowWaterMark);
  return new AdaptiveRefillPolicy({ maxAgeMs: p.maxAgeMs, maxBufferedIds: p.maxBufferedIds, servers });
}
