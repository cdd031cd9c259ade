/** Task route handlers → their task's name: how `weir routes` and the AsyncAPI document spot tasks. */
const taskHandlers = new WeakMap<object, string>();

/** Records that `handler` is the route handler of task `name`. */
export function markTaskHandler(handler: object, name: string): void {
  taskHandlers.set(handler, name);
}

/** The name of the task whose route this handler is, if it is one. */
export function taskNameOf(handler: unknown): string | undefined {
  return typeof handler === "function" ? taskHandlers.get(handler) : undefined;
}
