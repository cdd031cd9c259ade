import { InvalidHandlerError, InvalidOptionError, WeirError } from "../core/errors.js";
import { type Logger, sharedDefaultLogger } from "../core/logger.js";
import { knownKeys } from "../core/validate.js";

/** What a {@link Timeit} callback receives once per measurement. */
export interface TimeitReport {
  /** Wall time of each transaction that ended, in seconds, keyed by name; inner ones come first. */
  transactions: Record<string, number>;
  /**
   * Present only when the measurement failed: the error that ended the outermost transaction, or a
   * {@link DuplicateTransactionError} raised inside it. The caller receives the same error.
   */
  error?: unknown;
}

/** Called once, when the outermost transaction of a measurement ends; awaited before it returns. */
export type TimeitCallback = (report: TimeitReport) => void | Promise<void>;

/** Options of {@link Timeit}. */
export interface TimeitOptions {
  /** Name of the outermost transaction. */
  name: string;
  /** Receives the report of each measurement. */
  callback: TimeitCallback;
  /**
   * Receives an `error` when the callback fails while the measured code itself failed (the code's
   * error is the one rethrown, so the callback's would otherwise be lost).
   * @defaultValue weir's default logger (`WEIR_LOG_LEVEL`, `WEIR_LOG_FORMAT`), one for the process
   */
  logger?: Logger;
}

/** A transaction name was used twice in one measurement: the second would overwrite the first. */
export class DuplicateTransactionError extends WeirError {
  /** The repeated name. */
  readonly transaction: string;

  constructor(name: string) {
    super("WEIR_ERR_DUPLICATE_TRANSACTION", `transaction "${name}" already exists in this measurement`);
    this.transaction = name;
  }
}

/** A child transaction was started after its measurement's outermost transaction ended. */
export class MeasurementClosedError extends WeirError {
  constructor(name: string) {
    super("WEIR_ERR_MEASUREMENT_CLOSED", `cannot start transaction "${name}": its measurement has ended`);
  }
}

/** The Timeit callback threw while the measured code succeeded; the callback's error is the `cause`. */
export class TimeitCallbackError extends WeirError {
  constructor(cause: unknown) {
    super("WEIR_ERR_TIMEIT_CALLBACK", "the Timeit callback failed", { cause });
  }
}

/**
 * A running transaction. End it exactly once, with `end()`, `fail(error)` or (through
 * `await using`) `[Symbol.asyncDispose]`; later calls return the first call's promise.
 */
export interface Transaction extends AsyncDisposable {
  /** The transaction's name, its key in {@link TimeitReport.transactions}. */
  readonly name: string;
  /** A nested transaction in the same measurement; it starts when you `run` or `start` it. */
  child(name: string): TransactionTimer;
  /**
   * Records the duration. For the outermost transaction, also calls the callback and resolves after
   * it; rejects with {@link TimeitCallbackError} if the callback throws.
   */
  end(): Promise<void>;
  /**
   * Like `end()`, but for the outermost transaction the report carries `error`. Never rejects: a
   * callback failure is logged, since the caller is about to rethrow `error`. The caller still
   * rethrows `error` itself.
   */
  fail(error: unknown): Promise<void>;
}

/** Something that can be timed as one transaction: a {@link Timeit}, or `transaction.child(name)`. */
export interface TransactionTimer {
  /** The name the transaction will be recorded under. */
  readonly name: string;
  /**
   * Times `fn` as one transaction and returns its result. An error thrown by `fn` is reported (for
   * the outermost transaction) and rethrown unchanged.
   */
  run<R>(fn: (transaction: Transaction) => R): Promise<Awaited<R>>;
  /** Starts the transaction now, for `await using t = timer.start()` or a manual `end()`. */
  start(): Transaction;
}

function checkName(name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidOptionError("name", "must be a non-empty string");
  }
  return name;
}

/** One outermost transaction and everything nested in it: the unit a callback reports. */
class Measurement {
  readonly #names = new Set<string>();
  readonly #seconds = new Map<string, number>();
  #error: { value: unknown } | undefined;
  #closed = false;

  constructor(
    readonly callback: TimeitCallback,
    readonly logger: Logger,
  ) {}

  open(name: string, root: boolean): Transaction {
    if (this.#closed) throw new MeasurementClosedError(name);
    if (this.#names.has(name)) {
      const error = new DuplicateTransactionError(name);
      // Kept so the callback hears of it even when the caller's code swallows it.
      this.#error ??= { value: error };
      throw error;
    }
    this.#names.add(name);
    return new RunningTransaction(this, name, root);
  }

  async close(name: string, seconds: number, root: boolean, failure?: { value: unknown }): Promise<void> {
    // A child that outlives its root would change a report the callback already holds.
    if (this.#closed) return;
    this.#seconds.set(name, seconds);
    if (!root) return;
    this.#closed = true;
    const error = failure ?? this.#error;
    const report: TimeitReport = { transactions: Object.fromEntries(this.#seconds) };
    if (error) report.error = error.value;
    try {
      await this.callback(report);
    } catch (callbackError) {
      if (!failure) throw new TimeitCallbackError(callbackError);
      this.logger.error({ err: callbackError, transaction: name }, "Timeit callback failed");
    }
  }
}

class RunningTransaction implements Transaction {
  // performance.now() is monotonic: a wall-clock change (NTP) cannot make a duration negative.
  readonly #startedAt = performance.now();
  #ending: Promise<void> | undefined;

  constructor(
    readonly measurement: Measurement,
    readonly name: string,
    readonly root: boolean,
  ) {}

  child(name: string): TransactionTimer {
    return new ChildTimer(this.measurement, checkName(name));
  }

  end(): Promise<void> {
    return this.#finish(undefined);
  }

  fail(error: unknown): Promise<void> {
    return this.#finish({ value: error });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.end();
  }

  #finish(failure: { value: unknown } | undefined): Promise<void> {
    const seconds = (performance.now() - this.#startedAt) / 1000;
    this.#ending ??= this.measurement.close(this.name, seconds, this.root, failure);
    return this.#ending;
  }
}

async function runTransaction<R>(transaction: Transaction, fn: (t: Transaction) => R): Promise<Awaited<R>> {
  let result: Awaited<R>;
  try {
    result = await fn(transaction);
  } catch (error) {
    await transaction.fail(error);
    throw error;
  }
  await transaction.end();
  return result;
}

class ChildTimer implements TransactionTimer {
  constructor(
    readonly measurement: Measurement,
    readonly name: string,
  ) {}

  start(): Transaction {
    return this.measurement.open(this.name, false);
  }

  async run<R>(fn: (transaction: Transaction) => R): Promise<Awaited<R>> {
    return runTransaction(this.start(), fn);
  }
}

/**
 * Measures named transactions and reports their durations to an async callback (async-worker's
 * `Timeit`). Each `run`, `start` or wrapped call is a fresh measurement with its own record, so one
 * instance can be shared by concurrent handlers.
 *
 * ```ts
 * const timeit = new Timeit({ name: "handler", callback: async ({ transactions }) => observe(transactions) });
 * await timeit.run(async (t) => {
 *   await t.child("db").run(() => db.write(doc));
 * });
 * ```
 */
export class Timeit implements TransactionTimer {
  /** Name of the outermost transaction. */
  readonly name: string;
  readonly #callback: TimeitCallback;
  readonly #logger: Logger;

  constructor(options: TimeitOptions) {
    knownKeys("Timeit", options, ["name", "callback", "logger"]);
    this.name = checkName(options.name);
    if (typeof options.callback !== "function") throw new InvalidHandlerError("Timeit callback");
    this.#callback = options.callback;
    this.#logger = options.logger ?? sharedDefaultLogger();
  }

  /** Starts a new measurement; `await using t = timeit.start()` ends it with the block. */
  start(): Transaction {
    return new Measurement(this.#callback, this.#logger).open(this.name, true);
  }

  /** Times `fn` as a new measurement; the callback has run by the time the promise settles. */
  async run<R>(fn: (transaction: Transaction) => R): Promise<Awaited<R>> {
    return runTransaction(this.start(), fn);
  }

  /**
   * Returns `fn` timed as a new measurement on every call (async-worker's decorator form, whose
   * second call used to fail). `this` and the arguments are passed through.
   */
  wrap<This, A extends unknown[], R>(
    fn: (this: This, ...args: A) => R,
  ): (this: This, ...args: A) => Promise<Awaited<R>> {
    const run = <T>(body: () => T) => this.run(body);
    return function (this: This, ...args: A) {
      return run(() => fn.apply(this, args));
    };
  }
}
