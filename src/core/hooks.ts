import { InvalidHandlerError } from "./errors.js";

/** A startup or shutdown hook: receives the app, may be async. */
export type Hook<A> = (app: A) => unknown | Promise<unknown>;

/** An ordered list of lifecycle hooks. */
export class HookList<A> {
  private readonly hooks: Hook<A>[] = [];

  constructor(private readonly what: string) {}

  add<H extends Hook<A>>(hook: H): H {
    if (typeof hook !== "function") throw new InvalidHandlerError(this.what);
    this.hooks.push(hook);
    return hook;
  }

  /** Runs every hook in registration order; the first error stops the run. */
  async runInOrder(app: A): Promise<void> {
    for (const hook of this.hooks) await hook(app);
  }

  /**
   * Runs every hook in reverse registration order (last acquired, first released). An error does
   * not stop the rest: each hook releases its own resource. Errors are returned for logging.
   */
  async runReversed(app: A): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const hook of [...this.hooks].reverse()) {
      try {
        await hook(app);
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }
}
