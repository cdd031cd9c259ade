import { describe, expect, it } from "vitest";
import { WeirError } from "../../src/core/errors.js";
import * as utils from "../../src/utils/index.js";

describe("utils barrel", () => {
  it("exports the runtime names of timeit, action-queue and backoff", () => {
    expect(Object.keys(utils).sort()).toEqual([
      "ActionQueue",
      "ActionQueueStateError",
      "ActionRetryError",
      "ClampedBackoff",
      "ConstantBackoff",
      "DoublingBackoff",
      "DuplicateTransactionError",
      "ExponentialBackoff",
      "LinearBackoff",
      "MeasurementClosedError",
      "Timeit",
      "TimeitCallbackError",
    ]);
  });

  it("gives every error class a WEIR_ERR_* code", () => {
    const errors = [
      new utils.ActionRetryError(),
      new utils.ActionQueueStateError("x"),
      new utils.DuplicateTransactionError("x"),
      new utils.MeasurementClosedError("x"),
      new utils.TimeitCallbackError(new Error("x")),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(WeirError);
      expect(error.code).toMatch(/^WEIR_ERR_[A-Z_]+$/);
      expect(error.name).toBe(error.constructor.name);
    }
  });
});
