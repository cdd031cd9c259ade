import type { Redis } from "ioredis";
import { decodeBodyResult } from "../../core/codec/body.js";
import { InvalidBodyError } from "../../core/codec/errors.js";
import { Actions } from "../../core/constants.js";
import { DeliveryPolicy } from "../../core/consume/policy.js";
import { RouteRunner } from "../../core/consume/route-runner.js";
import type { Deadline } from "../../core/deadline.js";
import type { Instrumentation } from "../../core/instrumentation.js";
import { type Logger, failureFields as logFailure } from "../../core/logger.js";
import type { RouteHealth } from "../../core/transport.js";
import { type EntryKeeper, RedisAcknowledger } from "./acknowledger.js";
import { MOVE_DUE, RENEW, type RedisCommands } from "./commands.js";
import { RedisStreamError } from "./errors.js";
import { BODY_FIELD, type Fields, fieldsOf, RedisFields } from "./fields.js";
import { RedisForwarding } from "./forwarding.js";
import { HeldEntries } from "./held.js";
import type { RedisLink } from "./link.js";
import { RedisMessage } from "./message.js";
import { RETRY_SUFFIX, type RedisRoute } from "./route-spec.js";

/** How long one `XREADGROUP` blocks (ms): the longest a stop waits for it if `CLIENT UNBLOCK` fails. */
const BLOCK_MS = 2_000;
/** The longest a retry waits in `<stream>.retry` past its due time when no timer of ours knows it (ms). */
const RETRY_POLL_MS = 1_000;
/** Retries moved back per script call. */
const RETRY_BATCH = 100;

type Entry = [id: string, fields: string[] | null];
type ReadReply = [stream: string, entries: Entry[]][] | null;

/** What a route's consumer gets from its transport. */
export interface ConsumerContext {
  readonly link: RedisLink;
  readonly commands: RedisCommands;
  readonly logger: Logger;
  readonly instrumentation: Instrumentation;
  readonly transport: string;
}

function isNoGroup(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOGROUP");
}

/**
 * One route on Redis Streams: its consumer group (created when missing), a blocking `XREADGROUP`
 * loop on a connection of its own that reads at most `prefetch` entries ahead of their settlement,
 * a sweep (`XAUTOCLAIM`, every `claimIdle / 2` and after each requeue) that takes over entries left
 * pending by a consumer that died or stalled, a renewal of the entries it holds (so a live worker
 * keeps them), and, on a route with `retry`, the mover of due retries. Entries go through core's
 * RouteRunner (bulks, policy, settlement by the RedisAcknowledger).
 */
export class RedisRouteConsumer implements EntryKeeper {
  readonly runner: RouteRunner<RedisMessage>;
  readonly acknowledger: RedisAcknowledger;
  private readonly policy: DeliveryPolicy<RedisMessage> | undefined;
  private readonly logger: Logger;
  /** Entries read and not settled yet, by stream and id. */
  private readonly held = new HeldEntries();
  private readonly inFlight = new Set<Promise<unknown>>();
  private reader: Redis | undefined;
  private readerId: number | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private roomWaiter: (() => void) | undefined;
  private sweeping: Promise<void> | undefined;
  private sweepAgain = false;
  /** A sweep stopped for want of room: run it again when entries are let go. */
  private sweepWhenRoom = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDue = Number.POSITIVE_INFINITY;
  /** Reads are abandoned (a stop while Redis is away): every read ends at once, with null. */
  private readsAbandoned = false;
  /** Ends the read in flight with null (ioredis would resend it to a Redis that is away, not fail it). */
  private endRead: (() => void) | undefined;
  /** Read this consumer's own pending entries first (after a start or a reconnect). */
  private history = true;
  private ready = false;
  private received = 0;
  private claimed = 0;
  private lastError: string | undefined;

  constructor(
    readonly route: RedisRoute,
    private readonly context: ConsumerContext,
  ) {
    // The transport's logger binds `transport` already: binding it again writes the key twice.
    this.logger = context.logger.child({ route: route.name });
    this.acknowledger = new RedisAcknowledger(
      {
        group: route.group,
        consumer: route.consumer,
        claimIdle: route.claimIdle,
        deadLetter: route.deadLetter,
      },
      context.commands,
      this,
      this.logger,
    );
    const forwarding =
      route.retry !== undefined || route.deadLetter
        ? new RedisForwarding(
            route,
            context.commands,
            this.acknowledger,
            (due) => this.scheduleRetries(due),
            this.logger,
          )
        : undefined;
    const settings = {
      route: route.name,
      transport: context.transport,
      onSuccess: route.onSuccess,
      onException: route.onException,
      retry: route.retry === undefined ? undefined : { maxAttempts: route.retry.maxAttempts },
      once: route.once,
      schema: route.schema,
      forwarding,
    };
    this.policy = DeliveryPolicy.needed(settings)
      ? new DeliveryPolicy<RedisMessage>(settings, this.acknowledger, context.instrumentation, this.logger)
      : undefined;
    this.runner = new RouteRunner<RedisMessage>({
      route: {
        name: route.name,
        bulkSize: route.bulkSize,
        flushInterval: route.flushInterval,
        concurrency: route.concurrency,
        timeout: route.timeout,
        onSuccess: route.onSuccess,
        onException: route.onException,
        handler: route.handler,
      },
      transport: context.transport,
      acknowledger: this.acknowledger,
      policy: this.policy,
      instrumentation: context.instrumentation,
      logger: this.logger,
    });
  }

  // ------------------------------------------------------------------ lifecycle

  /** Creates the groups, then reads; resolves once the route receives entries. */
  async start(): Promise<void> {
    const commands = await this.context.link.commands();
    await this.ensureGroups(commands, true);
    await this.policy?.attach();
    const reader = await this.context.link.open(`consume:${this.route.name}`);
    this.reader = reader;
    this.readerId = Number(await reader.call("CLIENT", ["ID"]));
    reader.on("ready", () => {
      // Entries of a read whose reply the drop lost are pending for this consumer: read them first.
      this.history = true;
      void reader.call("CLIENT", ["ID"]).then(
        (id) => {
          this.readerId = Number(id);
        },
        () => {},
      );
    });
    this.running = true;
    this.ready = true;
    this.loop = this.readLoop(reader);
    const sweepEvery = Math.max(50, Math.floor(this.route.claimIdle / 2));
    this.sweepTimer = setInterval(() => this.sweep(), sweepEvery);
    this.renewTimer = setInterval(() => this.renew(), Math.max(30, Math.floor(this.route.claimIdle / 3)));
    this.sweep();
    if (this.route.retry !== undefined) this.scheduleRetries(Date.now());
  }

  /** weir/testing: the route takes entries from memory (`deliver`), nothing is read from Redis. */
  startInMemory(): void {
    this.running = true;
    this.ready = true;
  }

  async stop(deadline: Deadline): Promise<void> {
    await this.runner.stop(deadline, {
      stopIntake: async () => {
        this.running = false;
        clearInterval(this.sweepTimer);
        clearInterval(this.renewTimer);
        clearTimeout(this.retryTimer);
        this.roomWaiter?.();
        await this.unblock(deadline);
      },
    });
    // Acks, requeues and forwards sent while draining: before the connections close.
    if (this.inFlight.size > 0) await deadline.race(Promise.allSettled([...this.inFlight]));
    // A sweep waiting for a Redis that is away is not waited for: what it claims after the stop
    // stays pending (deliver refuses it) and goes to another worker after claimIdle.
    if (this.sweeping && this.context.link.commandsReady) await deadline.race(this.sweeping);
    const reader = this.reader;
    this.reader = undefined;
    this.ready = false;
    if (reader !== undefined) await this.context.link.release(reader);
  }

  /** Ends the blocking read at once (`CLIENT UNBLOCK`), else at its BLOCK timeout. */
  private async unblock(deadline: Deadline): Promise<void> {
    if (this.loop === undefined) return;
    const reader = this.reader;
    let unblocked = false;
    if (this.readerId !== undefined && reader?.status === "ready") {
      try {
        const commands = await this.context.link.commands();
        // While Redis is away a command would wait for it: then the reader is simply disconnected.
        if (commands.status === "ready") {
          await deadline.race(commands.call("CLIENT", ["UNBLOCK", String(this.readerId)]));
          unblocked = true;
        }
      } catch {
        // Disconnected below.
      }
    }
    if (!unblocked) {
      // The read in flight waits to be resent: dropped (what it may still return stays pending).
      this.abandonRead();
      reader?.disconnect();
    }
    if (!(await deadline.race(this.loop))) reader?.disconnect();
  }

  // ------------------------------------------------------------------ EntryKeeper

  letGo(messages: readonly RedisMessage[]): void {
    for (const message of messages) this.held.delete(message);
    if (this.sweepWhenRoom && this.held.size < this.route.prefetch) {
      this.sweepWhenRoom = false;
      this.sweep();
    }
    if (this.roomWaiter !== undefined && this.held.size < this.route.prefetch) {
      const wake = this.roomWaiter;
      this.roomWaiter = undefined;
      wake();
    }
  }

  requeued(): void {
    this.sweep();
  }

  track(command: Promise<unknown>): void {
    this.inFlight.add(command);
    const done = (): void => {
      this.inFlight.delete(command);
    };
    // Both ways: a command that rejects must not leave an unhandled rejection behind.
    command.then(done, done);
  }

  // ------------------------------------------------------------------ entries in

  /**
   * Hands one entry to the route: decoded (a body that does not decode is refused: dead-lettered or
   * dropped, never requeued), unless this route holds it already. `fields` null: the entry was
   * deleted (trimmed) while pending; it is acked away.
   */
  deliver(stream: string, id: string, flat: readonly string[] | Fields | null, deliveryCount: number): void {
    // Read or claimed as the route stopped: it stays pending, for another worker after claimIdle.
    if (!this.running) return;
    if (this.held.has(stream, id)) return;
    if (flat === null) {
      this.track(this.context.commands.ack(this.route.group, [this.placeholder(stream, id)]).catch(() => {}));
      return;
    }
    const fields = Array.isArray(flat) ? fieldsOf(flat) : (flat as Fields);
    const retryGroup = fields[RedisFields.RETRY_GROUP];
    if (retryGroup !== undefined && retryGroup !== this.route.group) {
      // Another group's retry, written back to the stream: this group had the original.
      this.track(this.context.commands.ack(this.route.group, [this.placeholder(stream, id)]).catch(() => {}));
      return;
    }
    const decoded = decode(fields);
    const message = new RedisMessage(
      stream,
      id,
      fields,
      decoded.ok ? decoded.value : undefined,
      deliveryCount,
      this.logger,
    );
    this.held.add(message);
    this.received++;
    if (decoded.ok) {
      this.runner.push(message);
      return;
    }
    if (this.policy !== undefined) {
      this.policy.refuse(message, decoded.error);
      return;
    }
    this.logger.warn(
      { ...message.logFields(), code: decoded.error.code, reason: decoded.error.message },
      "message dropped: its body cannot be decoded and the route has no dead-letter stream",
    );
    message.decision = Actions.REJECT;
    this.acknowledger.settle([message], Actions.REJECT);
  }

  private abandonRead(): void {
    this.readsAbandoned = true;
    this.endRead?.();
  }

  /**
   * `reading`, or null as soon as reads are abandoned. Not a `Promise.race` with one long-lived
   * promise: each race leaves a reaction on it that keeps the race's result (a whole XREADGROUP
   * reply) reachable until that promise settles, i.e. for the route's life: a leak of every entry
   * read, which the garbage collector then copied and promoted again and again.
   */
  private unlessAbandoned<T>(reading: Promise<T>): Promise<T | null> {
    if (this.readsAbandoned) {
      reading.catch(() => {});
      return Promise.resolve(null);
    }
    return new Promise<T | null>((resolve, reject) => {
      this.endRead = () => resolve(null);
      reading.then(resolve, reject);
    });
  }

  private placeholder(stream: string, id: string): RedisMessage {
    return new RedisMessage(stream, id, {}, undefined, 1, this.logger);
  }

  private async readLoop(reader: Redis): Promise<void> {
    const { group, consumer, streams } = this.route;
    let failures = 0;
    while (this.running) {
      const room = this.route.prefetch - this.held.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          this.roomWaiter = resolve;
        });
        continue;
      }
      try {
        if (this.history) {
          this.history = false;
          await this.unlessAbandoned(this.readHistory(reader));
          continue;
        }
        // COUNT is per stream: shared, so the route never holds more than its prefetch.
        const count = Math.max(1, Math.floor(room / streams.length));
        const reading = reader.call("XREADGROUP", [
          "GROUP",
          group,
          consumer,
          "COUNT",
          String(count),
          "BLOCK",
          String(BLOCK_MS),
          "STREAMS",
          ...streams,
          ...streams.map(() => ">"),
        ]) as Promise<ReadReply>;
        const reply = await this.unlessAbandoned(reading);
        if (!this.running) break;
        if (failures > 0) this.logger.info({ failures }, "reading the stream again");
        failures = 0;
        this.ready = true;
        if (reply === null) continue;
        for (const [stream, entries] of reply) {
          for (const [id, flat] of entries) this.deliver(stream, id, flat, 1);
        }
      } catch (error) {
        if (!this.running) break;
        this.history = true;
        let failure = error;
        if (isNoGroup(error)) {
          // The stream was deleted, or Redis restarted without its data: the group comes back.
          this.logger.warn({ group }, "the consumer group is gone; creating it again");
          try {
            await this.ensureGroups(reader, false);
            continue;
          } catch (again) {
            failure = again;
          }
        }
        failures++;
        this.ready = false;
        this.lastError = (failure as Error).message;
        if (failures === 1) this.logger.warn(logFailure(failure), "reading the stream failed; trying again");
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** failures)));
      }
    }
  }

  /** This consumer's own pending entries (`XREADGROUP ... 0`), those it does not hold yet. */
  private async readHistory(reader: Redis): Promise<void> {
    const { group, consumer, streams } = this.route;
    const cursors = streams.map(() => "0");
    for (let round = 0; round < 1_000 && this.running; round++) {
      const reply = (await reader.call("XREADGROUP", [
        "GROUP",
        group,
        consumer,
        "COUNT",
        "100",
        "STREAMS",
        ...streams,
        ...cursors,
      ])) as ReadReply;
      let any = false;
      for (const [stream, entries] of reply ?? []) {
        if (entries.length === 0) continue;
        any = true;
        cursors[streams.indexOf(stream)] = entries[entries.length - 1]![0];
        await this.deliverCounted(reader, stream, entries);
      }
      if (!any) return;
    }
  }

  /** Delivers entries that were delivered before, with their delivery counts from the pending list. */
  private async deliverCounted(client: Redis, stream: string, entries: readonly Entry[]): Promise<void> {
    const fresh = entries.filter(([id]) => !this.held.has(stream, id));
    if (fresh.length === 0) return;
    const counts = new Map<string, number>();
    const pending = (await client.call("XPENDING", [
      stream,
      this.route.group,
      fresh[0]![0],
      fresh[fresh.length - 1]![0],
      // Entries this route holds may sit in the range too.
      String(fresh.length + this.held.size),
      this.route.consumer,
    ])) as [id: string, consumer: string, idle: number, count: number][];
    for (const [id, , , count] of pending) counts.set(id, Number(count));
    for (const [id, flat] of fresh) this.deliver(stream, id, flat, counts.get(id) ?? 2);
  }

  // ------------------------------------------------------------------ the group

  /** `XGROUP CREATE ... MKSTREAM` for each stream; a group that exists is kept as it is. */
  private async ensureGroups(client: Redis, atStart: boolean): Promise<void> {
    const { group, streams } = this.route;
    for (const stream of streams) {
      try {
        await client.call("XGROUP", [
          "CREATE",
          stream,
          group,
          this.route.from === "new" ? "$" : "0",
          "MKSTREAM",
        ]);
        this.logger.info({ stream, group }, "consumer group created");
      } catch (error) {
        if (error instanceof Error && error.message.startsWith("BUSYGROUP")) continue;
        if (atStart) throw new RedisStreamError(stream, group, error);
        throw error;
      }
    }
  }

  /** Takes over entries idle for `claimIdle` (a dead consumer's, or requeued ones). */
  private sweep(): void {
    if (!this.running || this.reader === undefined) return;
    if (this.sweeping !== undefined) {
      this.sweepAgain = true;
      return;
    }
    this.sweeping = this.claimIdle()
      .catch((error: unknown) => {
        if (this.running)
          this.logger.warn(logFailure(error), "claiming idle entries failed; trying again later");
      })
      .finally(() => {
        this.sweeping = undefined;
        if (this.sweepAgain) {
          this.sweepAgain = false;
          this.sweep();
        }
      });
  }

  private async claimIdle(): Promise<void> {
    const client = await this.context.link.commands();
    const { group, consumer, claimIdle, streams } = this.route;
    for (const stream of streams) {
      let cursor = "0-0";
      for (let round = 0; round < 100 && this.running; round++) {
        const room = this.route.prefetch - this.held.size;
        if (room <= 0) {
          // Taken up again once room frees (letGo), not at once: that would spin.
          this.sweepWhenRoom = true;
          return;
        }
        const [next, entries] = (await client.call("XAUTOCLAIM", [
          stream,
          group,
          consumer,
          String(claimIdle),
          cursor,
          "COUNT",
          String(room),
        ])) as [next: string, entries: Entry[]];
        if (entries.length > 0) {
          this.claimed += entries.length;
          const live = entries.filter((entry): entry is Entry => entry !== null);
          await this.deliverCounted(client, stream, live);
        }
        if (next === "0-0") break;
        cursor = next;
      }
    }
  }

  /** Resets the idle time of the entries this consumer holds, so no other consumer takes them. */
  private renew(): void {
    // While Redis is away a renewal would only queue up behind the others.
    if (!this.running || this.held.size === 0 || !this.context.link.commandsReady) return;
    const held = this.held.idsByStream();
    const { group, consumer } = this.route;
    const renewing = this.context.link.commands().then(async (client) => {
      for (const [stream, ids] of held) {
        for (let i = 0; i < ids.length; i += 200) {
          await client.eval(RENEW, 1, stream, group, consumer, ...ids.slice(i, i + 200));
        }
      }
    });
    this.track(
      renewing.catch((error: unknown) => {
        if (this.running) this.logger.warn(logFailure(error), "renewing held entries failed");
      }),
    );
  }

  // ------------------------------------------------------------------ retries

  /** Moves due retries back at `dueAt` (or sooner); at most RETRY_POLL_MS later for others' retries. */
  private scheduleRetries(dueAt: number): void {
    if (!this.running || this.reader === undefined || this.route.retry === undefined) return;
    if (dueAt >= this.retryDue) return;
    clearTimeout(this.retryTimer);
    this.retryDue = dueAt;
    this.retryTimer = setTimeout(() => void this.moveDue(), Math.max(0, dueAt - Date.now()));
  }

  private async moveDue(): Promise<void> {
    this.retryDue = Number.POSITIVE_INFINITY;
    let next = Date.now() + RETRY_POLL_MS;
    try {
      const client = await this.context.link.commands();
      for (const stream of this.route.streams) {
        for (let round = 0; round < 100 && this.running; round++) {
          const [moved, score] = (await client.eval(
            MOVE_DUE,
            2,
            `${stream}${RETRY_SUFFIX}`,
            stream,
            String(Date.now()),
            String(RETRY_BATCH),
          )) as [number, string];
          if (score !== "") next = Math.min(next, Number(score));
          if (moved < RETRY_BATCH) break;
        }
      }
    } catch (error) {
      if (this.running) this.logger.warn(logFailure(error), "moving due retries failed; trying again");
    }
    this.scheduleRetries(next);
  }

  // ------------------------------------------------------------------ health

  health(connected: boolean): RouteHealth {
    return {
      name: this.route.name,
      ready:
        this.running &&
        this.ready &&
        connected &&
        (this.reader === undefined || this.reader.status === "ready"),
      streams: this.route.streams,
      group: this.route.group,
      consumer: this.route.consumer,
      held: this.held.size,
      inFlight: this.runner.size,
      received: this.received,
      claimed: this.claimed,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      ...this.runner.stats(),
    };
  }
}

/** The body of an entry: its `body` field (JSON, unless `content-type` says otherwise), else its fields. */
function decode(fields: Fields): { ok: true; value: unknown } | { ok: false; error: InvalidBodyError } {
  const body = fields[BODY_FIELD];
  if (body === undefined) return { ok: true, value: fields };
  const contentType = fields[RedisFields.CONTENT_TYPE];
  if (contentType === undefined || contentType === "application/json") {
    try {
      return { ok: true, value: JSON.parse(body) };
    } catch (error) {
      return {
        ok: false,
        error: new InvalidBodyError(
          "WEIR_ERR_INVALID_JSON",
          `the body is not valid JSON: ${(error as Error).message}`,
          {
            cause: error,
          },
        ),
      };
    }
  }
  return decodeBodyResult(Buffer.from(body, "utf8"), contentType, undefined);
}
