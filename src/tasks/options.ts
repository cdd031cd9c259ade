import { InvalidOptionError } from "../core/errors.js";
import { knownKeys } from "../core/validate.js";

/** `results` of `app.task(..., { results })`: where a run's status and result are kept. */
export interface TaskResultsOptions {
  /**
   * How long a run's record lives after its last change (ms): its status, result and revocation.
   * @defaultValue 86 400 000 (one day)
   */
  ttl?: number;
  /**
   * The largest result kept (bytes of its JSON); a larger one fails the run with
   * `WEIR_ERR_TASK_RESULT`.
   * @defaultValue 524 288 (512 KiB)
   */
  maxBytes?: number;
}

/** The task options every transport understands, beside the transport's own. */
export interface CommonTaskOptions {
  /**
   * Keep each run's status and result in Redis (the app's `redis.url`) for `job.status()`,
   * `job.result()`, `job.revoke()` and `weir tasks`; `false` keeps nothing, needs no Redis and
   * costs nothing per run.
   * @defaultValue `{ ttl: 86_400_000, maxBytes: 524_288 }`
   */
  results?: false | TaskResultsOptions;
}

export interface ResolvedResults {
  readonly ttl: number;
  readonly maxBytes: number;
}

export const DEFAULT_RESULT_TTL = 86_400_000;
const DEFAULT_MAX_BYTES = 524_288;

/** The `results` option, checked; `undefined` for `results: false`. */
export function resultsOption(value: unknown): ResolvedResults | undefined {
  if (value === false) return undefined;
  if (value === undefined || value === true) return { ttl: DEFAULT_RESULT_TTL, maxBytes: DEFAULT_MAX_BYTES };
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError("results", "must be false or an object like { ttl, maxBytes }");
  }
  knownKeys("results", value, ["ttl", "maxBytes"]);
  const { ttl = DEFAULT_RESULT_TTL, maxBytes = DEFAULT_MAX_BYTES } = value as TaskResultsOptions;
  if (!Number.isInteger(ttl) || ttl < 1_000) {
    throw new InvalidOptionError("results.ttl", `must be an integer of ms ≥ 1000, got ${String(ttl)}`);
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new InvalidOptionError(
      "results.maxBytes",
      `must be a positive integer of bytes, got ${String(maxBytes)}`,
    );
  }
  return { ttl, maxBytes };
}
