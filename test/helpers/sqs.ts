import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, afterEach } from "vitest";
import { App, type AppOptions } from "../../src/index.js";
import { silentLogger } from "./amqp.js";

/**
 * An SQS-protocol server for the tests: fauxqs (an SQS emulator with visibility timeouts, long
 * polling, redrive DLQs and FIFO queues), run in this process on 127.0.0.1 and a free port, so no
 * manual step and nothing outside loopback. `restart()` closes the HTTP server (every connection
 * drops, requests are refused) and listens again on the same port with the same in-memory stores:
 * what the queues held survives, as it does on SQS, so an interruption test counts real losses.
 */
export class SQSEmulator {
  private constructor(
    private server: { close(): Promise<void>; listen(o: { port: number; host: string }): Promise<string> },
    private readonly build: () => Promise<SQSEmulator["server"]>,
    readonly port: number,
  ) {}

  /** `http://127.0.0.1:<port>`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<SQSEmulator> {
    const fauxqs = await import("fauxqs");
    // fauxqs' own startFauxqs listens on every interface; its buildApp lets us listen on loopback,
    // and its stores (not in its exports map, so loaded by path) let a restart keep the queues.
    const root = join(import.meta.dirname, "../../node_modules/fauxqs");
    const load = async (path: string) =>
      (await import(pathToFileURL(join(root, "dist", path)).href)) as Record<string, new () => unknown>;
    const { SqsStore } = await load("sqs/sqsStore.js");
    const { SnsStore } = await load("sns/snsStore.js");
    const { S3Store } = await load("s3/s3Store.js");
    const stores = { sqsStore: new SqsStore!(), snsStore: new SnsStore!(), s3Store: new S3Store!() };
    const build = async () =>
      fauxqs.buildApp({ logger: false, stores: stores as never }) as unknown as SQSEmulator["server"];
    const server = await build();
    const address = await server.listen({ port: 0, host: "127.0.0.1" });
    return new SQSEmulator(server, build, Number(new URL(address).port));
  }

  /** Drops every connection and refuses requests for `downMs`, then serves again, state kept. */
  async restart(downMs = 500): Promise<void> {
    await this.server.close();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    this.server = await this.build();
    await this.server.listen({ port: this.port, host: "127.0.0.1" });
  }

  async stop(): Promise<void> {
    await this.server.close();
  }
}

let shared: Promise<SQSEmulator> | undefined;

/** One emulator per test file (started on first use; it stops with the worker process). */
export function sqsEmulator(): Promise<SQSEmulator> {
  shared ??= SQSEmulator.start();
  return shared;
}

export const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

/** A queue name no other test uses (SQS names: letters, digits, `-`, `_`). */
export function sqsQueueName(prefix: string, fifo = false): string {
  return `weir-test-${prefix}-${randomUUID().slice(0, 8)}${fifo ? ".fifo" : ""}`;
}

/** An SDK client on the emulator, for the tests' own publishing and inspection. */
export function rawClient(emulator: SQSEmulator): SQSClient {
  return new SQSClient({
    endpoint: emulator.endpoint,
    region: "us-east-1",
    credentials: { ...TEST_CREDENTIALS },
  });
}

/** An app on the emulator. */
/** Apps createSQSApp made and no sqsTestBed stopped yet. */
const made = new Set<App>();

export function createSQSApp(emulator: SQSEmulator, options: AppOptions = {}): App {
  const app = new App({
    logger: silentLogger,
    ...options,
    sqs: {
      endpoint: emulator.endpoint,
      region: "us-east-1",
      credentials: { ...TEST_CREDENTIALS },
      ...options.sqs,
    },
  });
  made.add(app);
  return app;
}

/**
 * A test file's SQS set-up: the file's emulator and its queues; after each test every app
 * createSQSApp made is stopped (stop() is idempotent) and the queues the test made are deleted;
 * after the file the emulator stops.
 */
export async function sqsTestBed(): Promise<{ emulator: SQSEmulator; queues: SQSQueues }> {
  const emulator = await sqsEmulator();
  const queues = new SQSQueues(rawClient(emulator));
  afterEach(async () => {
    const apps = [...made];
    made.clear();
    await Promise.all(apps.map((app) => app.stop()));
    await queues.cleanup();
  });
  afterAll(() => emulator.stop());
  return { emulator, queues };
}

/** Helpers over a raw client: create, publish, count, peek, delete. */
export class SQSQueues {
  readonly created: string[] = [];
  constructor(readonly client: SQSClient) {}

  async create(name: string, attributes: Record<string, string> = {}): Promise<string> {
    const fifo = name.endsWith(".fifo") ? { FifoQueue: "true" } : {};
    const out = await this.client.send(
      new CreateQueueCommand({ QueueName: name, Attributes: { ...fifo, ...attributes } }),
    );
    this.created.push(out.QueueUrl!);
    return out.QueueUrl!;
  }

  async url(name: string): Promise<string | undefined> {
    try {
      return (await this.client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    } catch {
      return undefined;
    }
  }

  async publish(name: string, bodies: readonly unknown[], group?: string): Promise<void> {
    const url = (await this.url(name))!;
    for (const body of bodies) {
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: JSON.stringify(body),
          ...(group === undefined ? {} : { MessageGroupId: group, MessageDeduplicationId: randomUUID() }),
        }),
      );
    }
  }

  /** ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible (+ delayed). */
  async backlog(name: string): Promise<number> {
    const url = await this.url(name);
    if (url === undefined) return 0;
    const out = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: [
          "ApproximateNumberOfMessages",
          "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed",
        ],
      }),
    );
    const a = out.Attributes ?? {};
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  /**
   * The bodies a queue holds and can hand out now, oldest first, read without removing them: one
   * receive with visibility 0 (they stay visible) per 10, deduplicated by id, bounded.
   */
  async peek(name: string): Promise<unknown[]> {
    const url = await this.url(name);
    if (url === undefined) return [];
    const seen = new Map<string, unknown>();
    for (let i = 0; i < 5; i++) {
      const out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
        }),
      );
      const messages = out.Messages ?? [];
      let fresh = 0;
      for (const m of messages) {
        if (seen.has(m.MessageId!)) continue;
        fresh++;
        seen.set(m.MessageId!, JSON.parse(m.Body ?? "null"));
      }
      if (fresh === 0) break;
    }
    return [...seen.values()];
  }

  async cleanup(): Promise<void> {
    for (const url of this.created.splice(0)) {
      await this.client.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
    }
  }
}
