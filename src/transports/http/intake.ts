import type { ServerResponse } from "node:http";
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from "fastify";
import type { Deadline } from "../../core/deadline.js";
import { genericErrorBody } from "./replies.js";

const SERVICE_UNAVAILABLE = genericErrorBody(503);

/**
 * The gate in front of the user's routes. When the stop begins, the server may have to keep
 * listening (the health and metrics endpoints answer until the app has closed everything else), so
 * "stop taking requests" cannot be "close the socket": the gate answers new requests on user routes
 * with a 503 and `connection: close`, and counts the requests it let in, so the stop can wait for
 * them. weir's own endpoints are not gated.
 *
 * A request let in before the stop and answered after it gets `connection: close`, so that its
 * kept-alive connection does not hold the server's close up to the deadline. The gate sets it on
 * the responses it holds when it closes, rather than checking in an `onSend` hook on every response
 * (a hook run per response, for something that happens once per stop: issue #19's HTTP pair), and
 * watches for their end only then.
 */
/** The fewest admissions kept before the responses already sent are pruned (see `admit`). */
const PRUNE_AT_LEAST = 64;

/** Whether a response needs nothing more: sent, or its connection gone. */
function settled(response: ServerResponse): boolean {
  return response.writableFinished || response.destroyed || response.req.socket.destroyed;
}

export class RequestIntake {
  private open = true;
  /**
   * Responses of the requests let in, and, while the gate is open, some already sent: they are
   * pruned now and then (O(1) per admission, amortised) rather than each watched for its end (a
   * listener per request, issue #19's HTTP pair). When the gate closes, the ones still due are watched.
   */
  private admitted: ServerResponse[] = [];
  /** The length of `admitted` at which it is next pruned: twice what the last pruning kept. */
  private pruneAt = PRUNE_AT_LEAST;
  /** Once closed: the responses still due. */
  private readonly inFlight = new Set<ServerResponse>();
  private onIdle: (() => void) | undefined;

  /** Prepends the gate to a route's `onRequest` hooks, so it runs before the route's authorizer. */
  guard(route: RouteOptions): void {
    const hooks = route.onRequest;
    route.onRequest =
      hooks === undefined ? [this.admit] : [this.admit, ...(Array.isArray(hooks) ? hooks : [hooks])];
  }

  /** Whether the stop has begun. */
  get closed(): boolean {
    return !this.open;
  }

  /** Refuses new requests from now on; the responses still to be sent will close their connection. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const response of this.admitted) {
      if (settled(response)) continue;
      this.inFlight.add(response);
      // `close` is emitted once per response, whether it was sent or its connection died first.
      response.on("close", this.release);
      if (!response.headersSent) response.setHeader("connection", "close");
    }
    this.admitted = [];
  }

  /** Resolves `true` once every admitted request is answered (or its client gone), `false` at the deadline. */
  async drained(deadline: Deadline): Promise<boolean> {
    if (this.inFlight.size === 0) return true;
    const idle = new Promise<void>((resolve) => {
      this.onIdle = resolve;
    });
    return deadline.race(idle);
  }

  // Callback style and a shared function: this runs for every request, and an async hook or a
  // closure would cost an allocation each time.
  private readonly admit = (
    _request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
  ): void => {
    if (!this.open) {
      void reply.code(503).header("connection", "close").send(SERVICE_UNAVAILABLE);
      return;
    }
    if (this.admitted.length >= this.pruneAt) {
      this.admitted = this.admitted.filter((response) => !settled(response));
      this.pruneAt = Math.max(PRUNE_AT_LEAST, 2 * this.admitted.length);
    }
    this.admitted.push(reply.raw);
    done();
  };

  /**
   * One function for every response, not a closure each: Node calls a listener with the emitter as
   * `this`, which says which response is done.
   */
  private readonly release = ((intake: RequestIntake) =>
    function release(this: ServerResponse): void {
      intake.inFlight.delete(this);
      if (intake.inFlight.size === 0 && intake.onIdle !== undefined) {
        intake.onIdle();
        intake.onIdle = undefined;
      }
    })(this);
}
