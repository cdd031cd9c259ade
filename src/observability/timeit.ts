import type { Histogram, LabelValues } from "prom-client";
import { knownKeys } from "../core/validate.js";
import type { TimeitCallback } from "../utils/timeit.js";

/** Options of {@link timeitToHistogram}. */
export interface TimeitHistogramOptions<T extends string> {
  /**
   * The label that receives each transaction's name. The histogram must declare it.
   * @defaultValue "transaction"
   */
  transactionLabel?: T;
  /**
   * A label that receives `"success"`, or `"error"` when the measurement failed. The histogram must
   * declare it.
   * @defaultValue none: successes and failures are observed alike
   */
  resultLabel?: T;
  /**
   * Fixed values of the histogram's other labels.
   * @defaultValue `{}`
   */
  labels?: LabelValues<T>;
}

/**
 * Turns {@link Timeit} measurements into histogram observations: every transaction of a report
 * (the outermost one and its children) is observed in seconds, labelled with its name.
 *
 * ```ts
 * const histogram = new Histogram({
 *   name: "orders_step_duration_seconds", help: "Order handling steps.",
 *   labelNames: ["transaction"], registers: [app.metrics!],
 * });
 * const timeit = new Timeit({ name: "order", callback: timeitToHistogram(histogram) });
 * ```
 */
export function timeitToHistogram<T extends string>(
  histogram: Histogram<T>,
  options: TimeitHistogramOptions<T> = {},
): TimeitCallback {
  knownKeys("timeitToHistogram", options, ["transactionLabel", "resultLabel", "labels"]);
  const transactionLabel = options.transactionLabel ?? ("transaction" as T);
  const { resultLabel } = options;
  const fixed = options.labels ?? {};
  return ({ transactions, error }) => {
    for (const [name, seconds] of Object.entries(transactions)) {
      const labels: LabelValues<T> = { ...fixed };
      labels[transactionLabel] = name;
      if (resultLabel !== undefined) labels[resultLabel] = error === undefined ? "success" : "error";
      histogram.observe(labels, seconds);
    }
  };
}
