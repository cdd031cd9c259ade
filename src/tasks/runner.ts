import type { HandlerContext } from "../core/handler-call.js";
import type { TaskDelivery, TaskRun, TaskSender } from "../core/transport.js";
import { TaskResultError } from "./errors.js";
import type { TaskLayer } from "./layer.js";
import type { ResolvedResults } from "./options.js";
import { failureOf, type TaskRef } from "./record.js";

/** The message header that carries a run's callback (`delay(..., { then })`): `{"task","id"}` JSON. */
export const THEN_HEADER = "weir-task-then";
/** The message header that names the run whose result this run carries. */
export const PREVIOUS_HEADER = "weir-task-previous";

/** The user's handler of one run. */
export type RunHandler = (payload: unknown, message: unknown, context: HandlerContext) => unknown;

/**
 * Wraps a task's handler into the carrier's `TaskRun`: skips a revoked run, records each attempt's
 * start and end, aborts the handler's signal when the run is revoked, keeps the result, and
 * enqueues the callback before the run counts as succeeded (so a callback is never lost: if it
 * cannot be sent, the attempt fails and the run is tried again).
 */
export function taskRun(
  layer: TaskLayer,
  name: string,
  handler: RunHandler,
  results: ResolvedResults | undefined,
  sender: () => TaskSender,
): TaskRun {
  return async (delivery: TaskDelivery, context: HandlerContext) => {
    const { message, id } = delivery;
    const store = results !== undefined && id !== undefined ? layer.store() : undefined;
    const ttl = results?.ttl ?? 0;
    if (store !== undefined && id !== undefined) {
      // Listening before the start is recorded: a revocation after it reaches this worker.
      await layer.listenForRevocations();
      if ((await store.start(id, name, message.attempt, ttl)) === "revoked") {
        layer.logger.info({ task: name, taskId: id }, "task revoked (or already succeeded): skipped");
        layer.instrumentation.taskStatus(name, "revoked");
        await abandonNext(layer, delivery, name, id, "was revoked");
        return;
      }
      layer.instrumentation.taskStatus(name, "running");
    }
    const revocation = id === undefined ? undefined : layer.running(id, name);
    const signal =
      revocation === undefined ? context.signal : AbortSignal.any([context.signal, revocation.signal]);
    try {
      const value = await untilAborted(handler(message.body, message, { signal }), signal);
      const json = resultJSON(name, value, results?.maxBytes);
      const next = thenOf(delivery.headers);
      if (next !== undefined && id !== undefined) {
        await layer.enqueueCallback(next, JSON.parse(json) as unknown, { task: name, id });
      }
      if (store !== undefined && id !== undefined) {
        const status = await store.finish(id, name, { status: "succeeded", result: json }, ttl);
        layer.instrumentation.taskStatus(name, status);
      }
    } catch (error) {
      if (revocation?.signal.aborted === true) {
        // Revoked while running: the run ends here, acked, whatever the handler does next.
        if (store !== undefined && id !== undefined) {
          await store.finish(id, name, { status: "revoked", error: JSON.stringify(failureOf(error)) }, ttl);
        }
        layer.instrumentation.taskStatus(name, "revoked");
        await abandonNext(layer, delivery, name, id, "was revoked");
        return;
      }
      if (error instanceof TaskResultError) {
        // A result that cannot be stored fails the same way every time: final, not retried.
        if (store !== undefined && id !== undefined) {
          await store.finish(id, name, { status: "failed", error: JSON.stringify(failureOf(error)) }, ttl);
        }
        layer.instrumentation.taskStatus(name, "failed");
        layer.logger.error(
          { task: name, taskId: id, err: error },
          "task failed: its result cannot be stored",
        );
        await abandonNext(layer, delivery, name, id, "failed");
        return;
      }
      const { maxAttempts } = sender();
      const final = maxAttempts !== undefined && message.attempt >= maxAttempts;
      const status = final ? "failed" : "retrying";
      if (store !== undefined && id !== undefined) {
        await store
          .finish(id, name, { status, error: JSON.stringify(failureOf(error)) }, ttl)
          .catch((cause) => {
            layer.logger.warn({ task: name, taskId: id, err: cause }, "task failure not recorded");
          });
      }
      layer.instrumentation.taskStatus(name, status);
      if (final) await abandonNext(layer, delivery, name, id, "failed").catch(() => {});
      throw error;
    } finally {
      if (id !== undefined) layer.finished(id, revocation);
    }
  };
}

/** Tells the run's callback (if any) that it will never be sent. */
async function abandonNext(
  layer: TaskLayer,
  delivery: TaskDelivery,
  name: string,
  id: string | undefined,
  why: string,
): Promise<void> {
  const next = thenOf(delivery.headers);
  if (next !== undefined && id !== undefined) await layer.abandonCallback(next, { task: name, id }, why);
}

/** The handler's value, or a rejection as soon as `signal` aborts (timeout or revocation). */
function untilAborted(value: unknown, signal: AbortSignal): Promise<unknown> {
  const running = Promise.resolve(value);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    running.then(
      (result) => {
        signal.removeEventListener("abort", onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** The result as JSON, within `maxBytes`; `undefined` is stored as `null`. */
function resultJSON(task: string, value: unknown, maxBytes: number | undefined): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value ?? null);
  } catch (error) {
    throw new TaskResultError(task, `it is not JSON-serialisable (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (json === undefined) throw new TaskResultError(task, `a ${typeof value} is not JSON-serialisable`);
  if (maxBytes !== undefined && json.length > maxBytes / 3 && Buffer.byteLength(json) > maxBytes) {
    throw new TaskResultError(
      task,
      `its JSON is ${Buffer.byteLength(json)} bytes, over results.maxBytes (${maxBytes})`,
    );
  }
  return json;
}

function thenOf(headers: Readonly<Record<string, string>>): TaskRef | undefined {
  const text = headers[THEN_HEADER];
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<TaskRef>;
    if (typeof parsed.task === "string" && typeof parsed.id === "string")
      return { task: parsed.task, id: parsed.id };
  } catch {
    // Not ours: no callback.
  }
  return undefined;
}
