import { LifecycleError } from "./errors.js";

/**
 * Inspect-only mode: `weir routes` and `weir asyncapi` import a user's module to read its route
 * table, and that module may call `app.run()`, `app.start()` or `app.amqp.publish(...)` at its top
 * level. In this mode the process only looks: every App records itself when it is constructed (so
 * the CLI finds it even when the module exports nothing, or its top-level `await app.run()`
 * rejected), and starting an app or opening any outward connection (AMQP, SSE, an HTTP listen)
 * throws {@link InspectOnlyError} before it has any effect.
 *
 * The state lives on `globalThis` under a registered symbol, so two copies of weir in one process
 * (the CLI's and a linked package the module imports) see the same mode.
 */
const KEY = Symbol.for("weir.inspectOnly");

/** @internal What an inspection saw: the Apps constructed, and what was refused, in order. */
export interface Inspection {
  readonly apps: object[];
  readonly refused: string[];
}

type WithInspection = { [KEY]?: Inspection };

/**
 * @internal Turns inspect-only mode on for the rest of the process, or until
 * {@link endInspection}. Returns the record the mode fills in.
 */
export function beginInspection(): Inspection {
  const inspection: Inspection = { apps: [], refused: [] };
  (globalThis as WithInspection)[KEY] = inspection;
  return inspection;
}

/** @internal Turns inspect-only mode off (for `weir dlq --module`, which needs the connection). */
export function endInspection(): void {
  delete (globalThis as WithInspection)[KEY];
}

/** @internal The current inspection, or `undefined` when the process runs normally. */
export function currentInspection(): Inspection | undefined {
  return (globalThis as WithInspection)[KEY];
}

/**
 * A start, a connection or a listen refused because the process only inspects apps
 * (`weir routes`, `weir asyncapi`). Nothing was consumed, published, declared or opened.
 */
export class InspectOnlyError extends LifecycleError {
  constructor(what: string) {
    super(
      "WEIR_ERR_INSPECT_ONLY",
      `${what} refused: this process only reads the app's routes (weir routes / weir asyncapi)`,
    );
  }
}

/** @internal Throws {@link InspectOnlyError} (and records `what`) when in inspect-only mode. */
export function refuseWhenInspecting(what: string): void {
  const inspection = currentInspection();
  if (inspection === undefined) return;
  inspection.refused.push(what);
  throw new InspectOnlyError(what);
}

/** @internal Records a newly constructed App when in inspect-only mode. */
export function recordWhenInspecting(app: object): void {
  currentInspection()?.apps.push(app);
}

/** True when `error`, or an error along its `cause` chain, is an {@link InspectOnlyError}. */
export function isInspectRefusal(error: unknown): boolean {
  for (let current = error, depth = 0; current !== undefined && depth < 10; depth++) {
    if ((current as { code?: unknown } | null)?.code === "WEIR_ERR_INSPECT_ONLY") return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}
