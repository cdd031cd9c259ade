import { AsyncLocalStorage } from "node:async_hooks";
import type { AMQPMessage } from "../message.js";
import type { AMQPHandler } from "../route-spec.js";
import type { DeliveryRecord } from "./memory-amqp.js";

/**
 * Which handler call caused an effect. The test client wraps each route's handler (only under the
 * test client: production handlers are never wrapped) so that every call runs in an async context
 * naming the deliveries it received; a publish made anywhere down that call's async chain, through
 * every await, reads it back. A window of time cannot do this: with several messages in weir's
 * hands at once (prefetch, bulks, concurrency), it hands each of them the others' publishes.
 */

/** One handler call of the app under test. */
export interface HandlerCall {
  /** The tracker of the test client that wrapped the handler (two clients may share a process). */
  readonly owner: object;
  /** The deliveries the call received: for a bulk, every message of it. */
  readonly deliveries: readonly DeliveryRecord[];
}

const calls = new AsyncLocalStorage<HandlerCall>();

/** The handler call whose async chain is running now, if any. */
export function currentHandlerCall(): HandlerCall | undefined {
  return calls.getStore();
}

/**
 * Runs `fn` outside any handler call. The in-memory broker delivers through this, so a route that
 * consumes what another route's handler published does not run inside that handler's context.
 */
export function outsideHandlerCalls(fn: () => void): void {
  calls.exit(fn);
}

/** Hooks that follow a handler call from its start to its end. */
export interface HandlerCallObserver {
  /** The in-memory broker's record of the delivery behind `message`. */
  deliveryOf(message: AMQPMessage): DeliveryRecord | undefined;
  callStarted(call: HandlerCall): void;
  callEnded(call: HandlerCall): void;
}

/** `handler`, running each call in an async context that names its deliveries. */
export function attributed(handler: AMQPHandler, owner: object, observer: HandlerCallObserver): AMQPHandler {
  return (messages, context) => {
    const deliveries: DeliveryRecord[] = [];
    for (const message of messages) {
      const delivery = observer.deliveryOf(message);
      if (delivery !== undefined) deliveries.push(delivery);
    }
    const call: HandlerCall = { owner, deliveries };
    observer.callStarted(call);
    return calls.run(call, async () => {
      try {
        return await handler(messages, context);
      } finally {
        observer.callEnded(call);
      }
    });
  };
}
