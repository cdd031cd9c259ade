/**
 * A sign-up handler that writes to two systems and undoes both when the second one fails.
 *
 * Run it with `npx tsx examples/04-action-queue.ts`: it calls the handler once, directly, with no
 * broker. The two systems are in-memory stand-ins: a user database and a flaky mail-list service
 * whose calls keep failing, some after applying the change. The module also exports the worker the
 * handler belongs to (`weir run examples/04-action-queue.ts` consumes `weir.demo.signups`): there,
 * rethrowing at the end lets the route's `retry` decide the message's fate (two more attempts, then
 * the dead-letter queue).
 */
import { App, isMainModule, RouteTypes } from "../src/index.js";
import { type Action, ActionQueue, ConstantBackoff, DoublingBackoff } from "../src/utils/index.js";

export const app = new App({ name: "action-queue-example" });
const logger = app.logger;

interface Signup {
  email: string;
  name: string;
}

/** Stand-in for a database table. */
const users = new Map<string, Signup>();

/**
 * Stand-in for a remote mail-list API: the first call fails before reaching it, later ones time out
 * after it applied the change, the worst case for the caller.
 */
const mailList = {
  members: new Set<string>(),
  calls: 0,
  async subscribe(email: string): Promise<void> {
    this.calls += 1;
    if (this.calls === 1) throw new Error("ECONNRESET");
    this.members.add(email);
    throw new Error("504 Gateway Timeout");
  },
  async unsubscribe(email: string): Promise<void> {
    this.members.delete(email);
  },
};

/** Inserts the user; rollback deletes exactly the row this action created. */
class CreateUser implements Action {
  #created = false;

  constructor(readonly signup: Signup) {}

  execute(): void {
    users.set(this.signup.email, this.signup);
    this.#created = true;
    logger.info({ email: this.signup.email }, "user created");
  }

  rollback(): void {
    if (!this.#created) return;
    users.delete(this.signup.email);
    logger.info({ email: this.signup.email }, "user creation rolled back");
  }
}

/** Subscribes to the mail list, retrying transient failures 3 times (20, 40, 80 ms). */
class SubscribeToMailList implements Action {
  readonly #retries = new DoublingBackoff({ retries: 3, initialBackoffMs: 20 });

  constructor(readonly email: string) {}

  async execute(): Promise<void> {
    try {
      await mailList.subscribe(this.email);
    } catch (error) {
      logger.warn(
        { reason: String(error), retriesLeft: this.#retries.retriesLeft },
        "mail list subscribe failed",
      );
      this.#retries.raise(error);
    }
  }

  // Called even though execute threw: the remote may have applied the call before failing.
  async rollback(): Promise<void> {
    await mailList.unsubscribe(this.email);
    logger.info({ email: this.email }, "mail list subscription rolled back");
  }
}

async function handleSignups(messages: { body: Signup }[]): Promise<void> {
  for (const { body } of messages) {
    const queue = new ActionQueue({ logger })
      .add(new CreateUser(body))
      .add(new SubscribeToMailList(body.email));
    try {
      await queue.execute();
    } catch (error) {
      logger.error({ err: error, email: body.email }, "sign-up failed; rolling back");
      const report = await queue.rollback();
      logger.info(report, "rollback finished");
      throw error;
    }
  }
}

app.route(
  ["weir.demo.signups"],
  {
    type: RouteTypes.AMQP,
    declare: true,
    retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 1_000, floor: 1_000 }) },
  },
  handleSignups,
);

if (isMainModule(import.meta.url)) {
  try {
    await handleSignups([{ body: { email: "ada@example.com", name: "Ada" } }]);
  } catch (error) {
    logger.info({ reason: String(error) }, "the handler failed as expected; the message would be retried");
  }

  const consistent = users.size === 0 && mailList.members.size === 0 && mailList.calls === 4;
  logger.info(
    { users: users.size, mailListMembers: mailList.members.size, subscribeCalls: mailList.calls },
    "final state",
  );
  if (!consistent) process.exitCode = 1;
}
