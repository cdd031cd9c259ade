import { BULK_DEFAULTS, type BulkOptions } from "../../core/bulk-pipeline.js";
import { type Action, Actions, isAction, type RouteTypes } from "../../core/constants.js";
import { onceOption, type ResolvedOnce } from "../../core/consume/once/options.js";
import type { OnceOptions } from "../../core/consume/once/store.js";
import { InvalidOptionError } from "../../core/errors.js";
import { type HandlerContext, handlerTimeoutOption } from "../../core/handler-call.js";
import { type StandardSchemaV1, schemaOption } from "../../core/schema.js";
import type { RouteRecord } from "../../core/transport.js";
import { duration, knownKeys, nonEmptyString, positiveInteger } from "../../core/validate.js";
import { type Backoff, ExponentialBackoff } from "../../utils/backoff.js";
import type { NATSMessage } from "./message.js";

/** Per-route behaviour of a NATS route (`options` in the route definition). */
export interface NATSRouteOptions extends BulkOptions {
  /**
   * What happens to each message the handler did not settle itself, when the handler returns.
   * @defaultValue "ack"
   */
  onSuccess?: Action;
  /**
   * What happens to each message the handler did not settle itself, when the handler throws
   * (without `retry`): `"requeue"` is a `nak()` (redelivered at once), `"reject"` a `term()`.
   * @defaultValue "requeue"
   */
  onException?: Action;
}

/** `retry` in a NATS route: a failed message is `nak`ed with a delay and JetStream redelivers it. */
export interface NATSRetryOptions {
  /**
   * How many times the handler may receive a message in all (JetStream's delivery count is the
   * attempt). The failure that reaches it sends the message to the dead-letter stream.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * The delay before each retry (`nak(delay)`), asked with the number of failures so far.
   * @defaultValue `new ExponentialBackoff()`: 1 min, 2.7 min, 10.7 min, 42.7 min, then 1 h
   */
  backoff?: Backoff;
}

/** `deadLetter` in a NATS route: where messages go that must not (or can no longer) be retried. */
export interface NATSDeadLetterOptions {
  /**
   * The stream dead letters are kept in. When it does not exist weir creates it (file storage,
   * limits retention) capturing `subject`; a stream that exists must capture `subject` already.
   * @defaultValue `<stream>-dlq` for each of the route's streams
   */
  stream?: string;
  /**
   * The subject dead letters are published to.
   * @defaultValue `weir.dlq.<stream>` (outside the usual `<stream>.>` subjects of the source stream)
   */
  subject?: string;
}

/**
 * A NATS JetStream route: `routes` are stream names; weir reads each through a durable pull
 * consumer (created when missing) and hands bulks of its messages to the handler.
 */
export interface NATSRouteSpec<T = unknown> {
  type: typeof RouteTypes.NATS;
  /**
   * Only messages of this subject (wildcards allowed): the consumer's `filter_subject`.
   * @defaultValue every subject of the stream
   */
  subject?: string;
  /**
   * The durable consumer's name; workers with the same name share its messages.
   * @defaultValue the app's name (plus the filter subject when `subject` is set), `[^A-Za-z0-9_-]` as `_`
   */
  consumer?: string;
  /**
   * `true`: weir creates each of the route's streams at start when it does not exist (file storage,
   * limits retention), capturing `subjects`, else `<stream>` and `<stream>.>` (so a publish to
   * `<stream>` or `<stream>.anything` lands in it; weir's dead-letter subjects `weir.dlq.<stream>` are
   * outside both). An existing stream is used as it is. The same route option as on AMQP, SQS and
   * Redis routes. Without it, a missing stream fails `start()` with `WEIR_ERR_NATS_STREAM_NOT_FOUND`.
   * Throws `WEIR_ERR_INVALID_OPTION` at `app.route` when it is not a boolean, when it is `false` with
   * `subjects` (they create the stream), and when the default subjects would capture a dead-letter
   * subject (a stream named `weir`, or a `deadLetter.subject` of `<stream>` or under `<stream>.`),
   * and when another route of the app declares one of its streams with other subjects. Several
   * routes (and workers) may declare one stream with the same subjects.
   * @defaultValue true with `subjects`, else false: the streams must exist
   */
  declare?: boolean;
  /**
   * The subjects weir creates each missing stream with (implies `declare: true`). An existing
   * stream is used as it is.
   * @defaultValue `<stream>` and `<stream>.>` with `declare: true`; else undefined: the streams must exist
   */
  subjects?: readonly string[];
  /**
   * Messages the route may hold unacknowledged: the consumer's `max_ack_pending` when weir creates
   * it, and the size of each pull. Bulks are at most this big.
   * @defaultValue the app's `nats.prefetch`, else 128
   */
  prefetch?: number;
  /**
   * ms JetStream waits for an ack before it redelivers (`ack_wait`, when weir creates the
   * consumer). weir sends "still working" (`working()`) for every message it holds every third of
   * it, so a long bulk or a slow handler does not get redelivered; a handler that never ends is
   * bounded by `options.timeout`, not by this.
   * @defaultValue 30000
   */
  ackWait?: number;
  /**
   * JetStream's own delivery limit (`max_deliver`, when weir creates the consumer): past it the
   * server stops redelivering a message (it stays in the stream). weir's `retry.maxAttempts`
   * dead-letters before it.
   * @defaultValue unlimited (-1)
   */
  maxDeliver?: number;
  options?: NATSRouteOptions;
  /** Failed messages come back after a delay (`nak(delay)`), then go to the dead letters. */
  retry?: NATSRetryOptions;
  /**
   * A dead-letter stream: refused bodies, `m.deadLetter()`, exhausted retries are published there
   * (with their reason in headers), then `term`ed. Implied by `retry`; `false` turns it off (they
   * are then `term`ed only).
   * @defaultValue false, or true with `retry`
   */
  deadLetter?: boolean | NATSDeadLetterOptions;
  /** Process each message once (docs/once.md). */
  once?: OnceOptions<T, NATSMessage<T>>;
  /** A Standard Schema the body must pass; a refused body is dead-lettered. */
  schema?: StandardSchemaV1;
}

export type NATSHandler<T = unknown> = (messages: NATSMessage<T>[], context: HandlerContext) => unknown;

export interface ResolvedNATSRetry {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
}

export interface ResolvedNATSDeadLetter {
  /** Undefined: `<stream>-dlq` per stream. */
  readonly stream: string | undefined;
  /** Undefined: `weir.dlq.<stream>` per stream. */
  readonly subject: string | undefined;
}

/** A NATS route, checked and with its defaults applied. */
export interface NATSRoute {
  readonly name: string;
  readonly streams: readonly string[];
  readonly subject: string | undefined;
  readonly consumer: string;
  /** weir creates missing streams (`declare`, or implied by `subjects`). */
  readonly declare: boolean;
  /** The subjects the route gave; undefined: `<stream>` and `<stream>.>` when it declares. */
  readonly subjects: readonly string[] | undefined;
  readonly prefetch: number;
  readonly ackWait: number;
  readonly maxDeliver: number;
  readonly bulkSize: number;
  readonly flushInterval: number;
  readonly concurrency: number;
  readonly timeout: number | undefined;
  readonly onSuccess: Action;
  readonly onException: Action;
  readonly retry: ResolvedNATSRetry | undefined;
  readonly deadLetter: ResolvedNATSDeadLetter | undefined;
  readonly once: ResolvedOnce<NATSMessage> | undefined;
  readonly schema: StandardSchemaV1 | undefined;
  readonly handler: NATSHandler;
}

export const NATS_DEFAULTS = { prefetch: 128, ackWait: 30_000, maxAttempts: 5 } as const;

const SPEC_KEYS = [
  "type",
  "subject",
  "consumer",
  "declare",
  "subjects",
  "prefetch",
  "ackWait",
  "maxDeliver",
  "options",
  "retry",
  "deadLetter",
  "once",
  "schema",
];
const OPTION_KEYS = ["bulkSize", "bulkFlushInterval", "concurrency", "timeout", "onSuccess", "onException"];

/** Stream names JetStream accepts: no whitespace, `.`, `*`, `>`, path separators. */
const STREAM_NAME = /^[^\s.*>/\\]+$/;
const CONSUMER_NAME = STREAM_NAME;

/** The dead-letter stream of `stream` under `deadLetter`. */
export function deadLetterStreamOf(stream: string, deadLetter: ResolvedNATSDeadLetter | undefined): string {
  return deadLetter?.stream ?? `${stream}-dlq`;
}

/** The subject dead letters of `stream` are published to. */
export function deadLetterSubjectOf(stream: string, deadLetter: ResolvedNATSDeadLetter | undefined): string {
  return deadLetter?.subject ?? `weir.dlq.${stream}`;
}

/** The subjects weir creates `stream` with when it is missing; undefined when the route does not declare it. */
export function declaredSubjectsOf(route: NATSRoute, stream: string): readonly string[] | undefined {
  if (!route.declare) return undefined;
  return route.subjects ?? [stream, `${stream}.>`];
}

/** True when a stream capturing `<stream>` and `<stream>.>` would capture `subject` too. */
function underStream(stream: string, subject: string): boolean {
  return subject === stream || subject.startsWith(`${stream}.`);
}

/** The default durable name: the app's name, plus the filter subject, in JetStream's alphabet. */
export function defaultConsumerName(appName: string, subject: string | undefined): string {
  const base = subject === undefined ? appName : `${appName}_${subject}`;
  return base.replace(/[^A-Za-z0-9_-]/g, "_");
}

function action(option: string, value: unknown, fallback: Action): Action {
  if (value === undefined) return fallback;
  if (!isAction(value)) {
    throw new InvalidOptionError(
      option,
      `unknown action ${String(value)} (known: ${Object.values(Actions).join(", ")})`,
    );
  }
  return value;
}

function streamName(option: string, value: unknown): string {
  const name = nonEmptyString(option, value);
  if (!STREAM_NAME.test(name)) {
    // A dotted name is the usual AMQP queue name a worker brings along: say what would do.
    const suggestion = name.replace(/[\s.*>/\\]/g, "_");
    throw new InvalidOptionError(
      option,
      `${JSON.stringify(name)} is not a JetStream stream name (no whitespace, ".", "*", ">", "/" or "\\"): name the stream ${JSON.stringify(suggestion)}, for instance (a stream's subjects may still have dots)`,
    );
  }
  return name;
}

function retryOption(value: unknown): ResolvedNATSRetry | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(
      "retry",
      `must be an object like { maxAttempts, backoff }, got ${String(value)}`,
    );
  }
  knownKeys("retry", value, ["maxAttempts", "backoff"]);
  const given = value as NATSRetryOptions;
  const backoff = given.backoff ?? new ExponentialBackoff();
  if (typeof backoff !== "object" || backoff === null || typeof backoff.get !== "function") {
    throw new InvalidOptionError("retry.backoff", "must have a get(attempt) method returning milliseconds");
  }
  return {
    maxAttempts: positiveInteger("retry.maxAttempts", given.maxAttempts, NATS_DEFAULTS.maxAttempts),
    backoff,
  };
}

function deadLetterOption(value: unknown, hasRetry: boolean): ResolvedNATSDeadLetter | undefined {
  const byDefault = { stream: undefined, subject: undefined };
  if (value === undefined) return hasRetry ? byDefault : undefined;
  if (value === false) return undefined;
  if (value === true) return byDefault;
  if (typeof value !== "object" || value === null) {
    throw new InvalidOptionError(
      "deadLetter",
      `must be a boolean or { stream?, subject? }, got ${String(value)}`,
    );
  }
  knownKeys("deadLetter", value, ["stream", "subject"]);
  const given = value as NATSDeadLetterOptions;
  return {
    stream: given.stream === undefined ? undefined : streamName("deadLetter.stream", given.stream),
    subject: given.subject === undefined ? undefined : nonEmptyString("deadLetter.subject", given.subject),
  };
}

function declareOption(value: unknown, hasSubjects: boolean): boolean {
  if (value === undefined) return hasSubjects;
  if (typeof value !== "boolean") {
    throw new InvalidOptionError("declare", `must be a boolean, got ${JSON.stringify(value)}`);
  }
  if (!value && hasSubjects) {
    throw new InvalidOptionError(
      "declare",
      "`subjects` are what weir creates a missing stream with: remove declare: false to create it, or subjects to use an existing stream only",
    );
  }
  return value;
}

/**
 * The default subjects of a declared stream (`<stream>`, `<stream>.>`) must not capture a
 * dead-letter subject: JetStream refuses a second stream on subjects a stream already captures,
 * and the dead letters would land in the stream they left.
 */
function refuseCapturedDeadLetters(
  streams: readonly string[],
  deadLetter: ResolvedNATSDeadLetter | undefined,
): void {
  for (const stream of streams) {
    if (stream === "weir") {
      throw new InvalidOptionError(
        "routes",
        'declare: true would create the stream "weir" with the subjects weir and weir.>, which capture weir\'s dead-letter subjects weir.dlq.<stream>: name the stream otherwise, or give the route subjects',
      );
    }
    if (deadLetter === undefined) continue;
    const subject = deadLetterSubjectOf(stream, deadLetter);
    if (underStream(stream, subject)) {
      throw new InvalidOptionError(
        "deadLetter.subject",
        `${JSON.stringify(subject)} is one of the subjects declare: true creates the stream "${stream}" with (${stream}, ${stream}.>): dead letters would land in the stream they left; pick a subject outside them (the default is weir.dlq.${stream})`,
      );
    }
  }
}

/** Checks a NATS route at registration and applies its defaults. */
export function normalizeNATSRoute(
  record: RouteRecord,
  appName: string,
  appPrefetch: number = NATS_DEFAULTS.prefetch,
): NATSRoute {
  const spec = record.spec as NATSRouteSpec;
  knownKeys("route", spec, SPEC_KEYS);
  const options = spec.options ?? {};
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("options", `must be an object, got ${String(options)}`);
  }
  knownKeys("options", options, OPTION_KEYS);
  const streams = record.routes.map((stream) => streamName("routes", stream));
  const subject = spec.subject === undefined ? undefined : nonEmptyString("subject", spec.subject);
  const consumer =
    spec.consumer === undefined
      ? defaultConsumerName(appName, subject)
      : nonEmptyString("consumer", spec.consumer);
  if (!CONSUMER_NAME.test(consumer)) {
    throw new InvalidOptionError("consumer", `${JSON.stringify(consumer)} is not a JetStream consumer name`);
  }
  let subjects: string[] | undefined;
  if (spec.subjects !== undefined) {
    if (!Array.isArray(spec.subjects) || spec.subjects.length === 0) {
      throw new InvalidOptionError("subjects", "must be a non-empty array of subjects");
    }
    subjects = spec.subjects.map((s, i) => nonEmptyString(`subjects[${i}]`, s));
  }
  const declare = declareOption(spec.declare, subjects !== undefined);
  const prefetch = positiveInteger("prefetch", spec.prefetch, appPrefetch);
  const maxDeliver = spec.maxDeliver === undefined ? -1 : positiveInteger("maxDeliver", spec.maxDeliver, -1);
  const retry = retryOption(spec.retry);
  if (retry !== undefined && options.onException !== undefined) {
    // As on every transport: two answers to "what does a thrown error do" would leave one silently dead.
    throw new InvalidOptionError(
      "options.onException",
      "a route with `retry` retries thrown errors; remove onException (or retry)",
    );
  }
  const deadLetter = deadLetterOption(spec.deadLetter, retry !== undefined);
  if (declare && subjects === undefined) refuseCapturedDeadLetters(streams, deadLetter);
  // A bulk above the prefetch could never fill (JetStream stops delivering at max_ack_pending).
  const bulkSize = Math.min(positiveInteger("bulkSize", options.bulkSize, BULK_DEFAULTS.bulkSize), prefetch);
  return {
    name: streams.join(","),
    streams,
    subject,
    consumer,
    declare,
    subjects,
    prefetch,
    ackWait: duration("ackWait", spec.ackWait, NATS_DEFAULTS.ackWait, 1_000),
    maxDeliver,
    bulkSize,
    flushInterval: duration("bulkFlushInterval", options.bulkFlushInterval, BULK_DEFAULTS.bulkFlushInterval),
    concurrency: positiveInteger("concurrency", options.concurrency, BULK_DEFAULTS.concurrency),
    timeout: handlerTimeoutOption("timeout", options.timeout),
    onSuccess: action("onSuccess", options.onSuccess, Actions.ACK),
    onException: action("onException", options.onException, Actions.REQUEUE),
    retry,
    deadLetter,
    once: onceOption<NATSMessage>(spec.once),
    schema: schemaOption("schema", spec.schema),
    handler: record.handler as NATSHandler,
  };
}
