import { InvalidOptionError } from "../core/errors.js";
import { knownKeys } from "../core/validate.js";

/**
 * Anything that turns an attempt number into a delay in milliseconds. weir's own algorithms
 * implement it, and any user object with a `get` method can be passed where a `Backoff` is expected.
 */
export interface Backoff {
  /**
   * The delay to wait before the given attempt, in milliseconds.
   *
   * @param attempt - how many failures happened so far: 1 after the first failure, 2 after the
   *   second, ... (Alsek's "incidents"). 0 means nothing has failed yet.
   */
  get(attempt: number): number;
}

/**
 * How a computed delay is randomised so that many consumers failing together do not retry in
 * lockstep (the thundering herd after a broker restart).
 *
 * - `"none"`: the computed delay itself.
 * - `"full"`: uniform in `[floor, computed]`.
 * - `"equal"`: uniform in `[max(floor, computed / 2), computed]`: keeps at least half the delay.
 */
export type BackoffJitter = "none" | "full" | "equal";

const JITTERS: readonly BackoffJitter[] = ["none", "full", "equal"];

/** Options shared by {@link ConstantBackoff}, {@link LinearBackoff} and {@link ExponentialBackoff}. */
export interface BackoffOptions {
  /**
   * The smallest delay returned, in ms (except 0 for attempt 0 when `zeroOverride` is on).
   * @defaultValue `60_000` (one minute, as in Alsek)
   */
  floor?: number;
  /**
   * The largest delay returned, in ms. Must be finite: an unbounded delay would reach `setTimeout`,
   * which silently turns anything above 2^31 - 1 ms into 1 ms.
   * @defaultValue `3_600_000` (one hour, as in Alsek)
   */
  ceiling?: number;
  /**
   * When `true`, `get(0)` returns 0: nothing has failed yet, so there is nothing to back off from.
   * When `false`, `get(0)` is computed by the formula and clamped like any other attempt.
   * @defaultValue `true`
   */
  zeroOverride?: boolean;
  /**
   * Randomisation applied after clamping, so the result always stays in `[floor, ceiling]`.
   * @defaultValue `"none"`
   */
  jitter?: BackoffJitter;
  /**
   * Source of uniform numbers in `[0, 1)` used by jitter; inject one to make jitter reproducible.
   * @defaultValue `Math.random`
   */
  random?: () => number;
}

/** Options of {@link ConstantBackoff}. */
export interface ConstantBackoffOptions extends BackoffOptions {
  /**
   * The delay, in ms, before it is clamped to `[floor, ceiling]`.
   * @defaultValue `60_000`
   */
  constant?: number;
}

/** Options of {@link LinearBackoff}. */
export interface LinearBackoffOptions extends BackoffOptions {
  /**
   * Milliseconds added to the delay after each failure: the delay is `factor * attempt`.
   * @defaultValue `30_000`
   */
  factor?: number;
}

/** Options of {@link ExponentialBackoff}. */
export interface ExponentialBackoffOptions extends BackoffOptions {
  /**
   * The base of the exponential; must be at least 1 so the delay never shrinks between attempts.
   * @defaultValue `4`
   */
  base?: number;
  /**
   * Milliseconds the power is multiplied by: the delay is `factor * base ** attempt`.
   * @defaultValue `10_000`
   */
  factor?: number;
}

/** The keys of BackoffOptions; each built-in backoff checks them with its own. */
const BACKOFF_KEYS = ["floor", "ceiling", "zeroOverride", "jitter", "random"];

function nonNegative(option: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, `must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Alsek's algorithm skeleton: a formula, clamped to `[floor, ceiling]`, with attempt 0 short-cut
 * to 0 and optional jitter. Extend it and implement `formula` to add an algorithm.
 */
export abstract class ClampedBackoff implements Backoff {
  /** The smallest delay returned for attempts above 0, in ms. */
  readonly floor: number;
  /** The largest delay returned, in ms. */
  readonly ceiling: number;
  /** Whether attempt 0 returns 0. */
  readonly zeroOverride: boolean;
  /** The randomisation applied after clamping. */
  readonly jitter: BackoffJitter;
  readonly #random: () => number;

  constructor(options: BackoffOptions) {
    this.floor = nonNegative("floor", options.floor ?? 60_000);
    this.ceiling = nonNegative("ceiling", options.ceiling ?? 3_600_000);
    if (this.floor > this.ceiling) {
      throw new InvalidOptionError(
        "floor",
        `floor (${this.floor}) is greater than ceiling (${this.ceiling})`,
      );
    }
    this.zeroOverride = options.zeroOverride ?? true;
    if (typeof this.zeroOverride !== "boolean") {
      throw new InvalidOptionError("zeroOverride", "must be a boolean");
    }
    this.jitter = options.jitter ?? "none";
    if (!JITTERS.includes(this.jitter)) {
      throw new InvalidOptionError(
        "jitter",
        `must be one of ${JITTERS.join(", ")}, got ${String(this.jitter)}`,
      );
    }
    this.#random = options.random ?? Math.random;
    if (typeof this.#random !== "function") {
      throw new InvalidOptionError("random", "must be a function returning a number in [0, 1)");
    }
  }

  /** The unclamped delay for `attempt`, in ms. */
  protected abstract formula(attempt: number): number;

  /**
   * The delay before retrying after `attempt` failures, in ms, clamped to `[floor, ceiling]` and
   * then jittered. Throws {@link InvalidOptionError} for a negative or fractional attempt.
   */
  get(attempt: number): number {
    if (!Number.isSafeInteger(attempt) || attempt < 0) {
      throw new InvalidOptionError("attempt", `must be an integer >= 0, got ${String(attempt)}`);
    }
    if (attempt === 0 && this.zeroOverride) return 0;
    // Math.trunc mirrors Alsek's int(); an exponential overflow to Infinity is caught by the ceiling.
    const computed = Math.min(this.ceiling, Math.max(this.floor, Math.trunc(this.formula(attempt))));
    return this.#applyJitter(computed);
  }

  #applyJitter(computed: number): number {
    if (this.jitter === "none") return computed;
    const low = this.jitter === "full" ? this.floor : Math.max(this.floor, computed / 2);
    const sampled = low + this.#random() * (computed - low);
    return Math.min(computed, Math.max(low, Math.round(sampled)));
  }
}

/** The same delay after every failure (Alsek's `ConstantBackoff`). */
export class ConstantBackoff extends ClampedBackoff {
  /** The delay before clamping, in ms. */
  readonly constant: number;

  constructor(options: ConstantBackoffOptions = {}) {
    super(options);
    // Only for itself: a subclass of yours may take options of its own.
    if (new.target === ConstantBackoff) knownKeys("ConstantBackoff", options, [...BACKOFF_KEYS, "constant"]);
    this.constant = nonNegative("constant", options.constant ?? 60_000);
  }

  protected formula(): number {
    return this.constant;
  }
}

/** A delay that grows by `factor` ms after each failure (Alsek's `LinearBackoff`). */
export class LinearBackoff extends ClampedBackoff {
  /** Milliseconds added per failure. */
  readonly factor: number;

  constructor(options: LinearBackoffOptions = {}) {
    super(options);
    // Only for itself: a subclass of yours may take options of its own.
    if (new.target === LinearBackoff) knownKeys("LinearBackoff", options, [...BACKOFF_KEYS, "factor"]);
    this.factor = nonNegative("factor", options.factor ?? 30_000);
  }

  protected formula(attempt: number): number {
    return this.factor * attempt;
  }
}

/** A delay of `factor * base ** attempt` ms (Alsek's `ExponentialBackoff`). */
export class ExponentialBackoff extends ClampedBackoff {
  /** The base of the exponential. */
  readonly base: number;
  /** Milliseconds the power is multiplied by. */
  readonly factor: number;

  constructor(options: ExponentialBackoffOptions = {}) {
    super(options);
    // Only for itself: a subclass of yours may take options of its own.
    if (new.target === ExponentialBackoff)
      knownKeys("ExponentialBackoff", options, [...BACKOFF_KEYS, "base", "factor"]);
    this.base = nonNegative("base", options.base ?? 4);
    if (this.base < 1) throw new InvalidOptionError("base", `must be >= 1, got ${this.base}`);
    this.factor = nonNegative("factor", options.factor ?? 10_000);
  }

  protected formula(attempt: number): number {
    return this.factor * this.base ** attempt;
  }
}
