import { Parser } from "@asyncapi/parser";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { App, ConstantBackoff, RouteTypes, toAsyncAPI } from "../../src/index.js";
import { silentLogger } from "../helpers/amqp.js";

const Order = z.object({
  id: z.number().int(),
  items: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() })),
  note: z.string().default(""),
});

interface Category {
  name: string;
  children: Category[];
}
const CategorySchema: z.ZodType<Category> = z.lazy(() =>
  z.object({ name: z.string(), children: z.array(CategorySchema) }),
);

function exampleApp(): App {
  const app = new App({
    name: "shop",
    logger: silentLogger,
    amqp: { url: "amqp://alice:s3cret@rabbit.example.com:5672/shop" },
    sse: { url: "https://bob:hunter2@events.example.com/api" },
  });
  app.route(
    ["orders", "orders.priority"],
    { type: RouteTypes.AMQP, schema: Order, options: { bulkSize: 10 } },
    async () => {},
  );
  app.route(
    ["catalog/updates"],
    { type: RouteTypes.AMQP, vhost: "catalog", schema: CategorySchema },
    async () => {},
  );
  app.route(["raw"], { type: RouteTypes.AMQP, declare: { durable: false } }, async () => {});
  app.task("emails.send", async () => {}, {
    schema: z.object({ to: z.string().email() }),
    retry: { maxAttempts: 3, backoff: new ConstantBackoff({ constant: 1000 }) },
  });
  app.route(["/v2/events"], { type: RouteTypes.SSE, options: { bulkSize: 2 } }, async () => {});
  app.http.get("/hello", async () => "hi");
  return app;
}

async function validate(document: unknown) {
  const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
  const problems = diagnostics.filter((diagnostic) => diagnostic.severity <= 1);
  return { parsed, problems };
}

describe("toAsyncAPI", () => {
  it("produces an AsyncAPI 3 document that the official parser accepts without errors or warnings", async () => {
    const document = toAsyncAPI(exampleApp(), { version: "2.1.0" });
    const { parsed, problems } = await validate(document);
    expect(
      problems.map((problem) => `${problem.code}: ${problem.message} at ${problem.path.join(".")}`),
    ).toEqual([]);
    expect(parsed).toBeDefined();
    expect(parsed!.version()).toBe("3.0.0");
    expect(parsed!.info().title()).toBe("shop");
    expect(parsed!.info().version()).toBe("2.1.0");
    expect(
      parsed!
        .channels()
        .all()
        .map((channel) => channel.address()),
    ).toEqual(
      expect.arrayContaining([
        "orders",
        "orders.priority",
        "catalog/updates",
        "raw",
        "emails.send",
        "/v2/events",
      ]),
    );
  });

  it("describes queues with AMQP bindings, and tasks with receive and send operations", () => {
    const document = toAsyncAPI(exampleApp());
    expect(document.servers.amqp).toEqual(
      expect.objectContaining({ host: "rabbit.example.com:5672", protocol: "amqp" }),
    );
    expect(document.channels.raw).toMatchObject({
      address: "raw",
      bindings: { amqp: { is: "queue", queue: { name: "raw", durable: false, vhost: "shop" } } },
    });
    expect(document.channels["catalog.catalog_updates"]).toMatchObject({
      address: "catalog/updates",
      bindings: { amqp: { queue: { vhost: "catalog" } } },
    });
    const actions = Object.values(document.operations).map((operation) => {
      const { action, channel } = operation as { action: string; channel: { $ref: string } };
      return `${action} ${channel.$ref}`;
    });
    expect(actions).toEqual(
      expect.arrayContaining([
        "receive #/channels/emails.send",
        "send #/channels/emails.send",
        "receive #/channels/orders",
      ]),
    );
    expect(actions.filter((action) => action.startsWith("send"))).toHaveLength(1);
  });

  it("turns zod schemas into message payloads, recursive ones through component schemas", () => {
    const document = toAsyncAPI(exampleApp());
    const orderMessage = document.components.messages["orders.message"] as { payload: { $ref: string } };
    expect(orderMessage.payload).toEqual({ $ref: "#/components/schemas/orders.message" });
    const order = document.components.schemas["orders.message"] as Record<string, unknown>;
    expect(order).toMatchObject({ type: "object", required: ["id", "items"] });
    expect(order).not.toHaveProperty("$schema");
    const serialized = JSON.stringify(document.components.schemas);
    expect(serialized).not.toMatch(/"\$ref":"#(\/definitions\/|\/\$defs\/|")/);
    expect(document.components.schemas["catalog.catalog_updates.message"]).toMatchObject({
      properties: { children: { items: { $ref: "#/components/schemas/catalog.catalog_updates.message" } } },
    });
    expect((document.components.messages["raw.message"] as { payload?: unknown }).payload).toBeUndefined();
  });

  it("notes HTTP paths and never includes credentials", () => {
    const document = toAsyncAPI(exampleApp());
    expect(document.info.description).toContain("GET /hello");
    expect(document.info["x-weir-http"]).toEqual([{ path: "/hello", methods: ["GET"] }]);
    expect(document.servers.sse).toMatchObject({
      host: "events.example.com",
      protocol: "https",
      pathname: "/api",
    });
    const text = JSON.stringify(document);
    for (const secret of ["s3cret", "alice", "hunter2", "bob"]) expect(text).not.toContain(secret);
  });

  it("is valid for an app with nothing but HTTP routes too", async () => {
    const app = new App({ logger: silentLogger, name: "tiny" });
    app.http.get("/", async () => "ok");
    const { problems } = await validate(toAsyncAPI(app));
    expect(problems).toEqual([]);
  });

  it("describes a broadcast route as its exchange, and a bound route's bindings (issue #17)", async () => {
    const app = new App({ logger: silentLogger, name: "topo", amqp: { url: "amqp://127.0.0.1:5672" } });
    app.route(
      ["cache.invalidate"],
      {
        type: RouteTypes.AMQP,
        exchanges: [{ name: "cache", type: "fanout" }],
        broadcast: { exchange: "cache" },
      },
      async () => {},
    );
    app.route(
      ["audit"],
      {
        type: RouteTypes.AMQP,
        declare: true,
        exchanges: [{ name: "events", type: "topic" }],
        bindings: [{ exchange: "events", routingKey: ["#.eu", "audit.#"] }],
        consumer: { priority: 5 },
      },
      async () => {},
    );
    const document = toAsyncAPI(app);
    const { problems } = await validate(document);
    expect(
      problems.map((problem) => `${problem.code}: ${problem.message} at ${problem.path.join(".")}`),
    ).toEqual([]);
    const channels = document.channels as Record<string, { address: string; bindings: { amqp: unknown } }>;
    expect(channels.cache).toMatchObject({
      address: "cache",
      bindings: { amqp: { is: "routingKey", exchange: { name: "cache", type: "fanout", durable: true } } },
    });
    const operations = Object.values(document.operations as Record<string, { description?: string }>);
    expect(operations.map((operation) => operation.description).join(" ")).toContain(
      "bound to events:#.eu, events:audit.#; consumer priority 5",
    );
  });

  it("describes typed publishers as send operations on their destination's channel (issue #17)", async () => {
    const app = new App({ logger: silentLogger, name: "pubs", amqp: { url: "amqp://127.0.0.1:5672" } });
    app.route(["orders"], { type: RouteTypes.AMQP, schema: Order }, async () => {});
    app.route(
      ["cache.invalidate"],
      {
        type: RouteTypes.AMQP,
        exchanges: [{ name: "cache", type: "fanout" }],
        broadcast: { exchange: "cache" },
      },
      async () => {},
    );
    app.amqp.publisher({ name: "newOrder", exchange: "", routingKey: "orders", schema: Order });
    app.amqp.publisher({
      name: "orderCreated",
      exchange: "shop.events",
      routingKey: "order.created",
      schema: z.object({ id: z.number() }),
      priority: 5,
      expiration: 60_000,
      persistent: false,
    });
    app.amqp.publisher({ name: "invalidate", exchange: "cache" });
    app.amqp.publisher({ name: "elsewhere", exchange: "", routingKey: "audit", vhost: "ops" });
    const document = toAsyncAPI(app);
    const { problems } = await validate(document);
    expect(
      problems.map((problem) => `${problem.code}: ${problem.message} at ${problem.path.join(".")}`),
    ).toEqual([]);
    const operations = document.operations as Record<
      string,
      { action: string; channel: { $ref: string }; messages: Array<{ $ref: string }>; bindings: unknown }
    >;
    const sends = Object.entries(operations)
      .filter(([, operation]) => operation.action === "send")
      .map(([id, operation]) => `${id} ${operation.channel.$ref}`);
    expect(sends).toEqual([
      "send.newOrder #/channels/orders",
      "send.orderCreated #/channels/shop.events.order.created",
      "send.invalidate #/channels/cache",
      "send.elsewhere #/channels/ops.audit",
    ]);
    // A queue the app consumes keeps one channel: its route receives, the publisher sends.
    expect(
      Object.values(operations).filter((operation) => operation.channel.$ref === "#/channels/orders"),
    ).toHaveLength(2);
    expect(document.channels["shop.events.order.created"]).toMatchObject({
      address: "order.created",
      bindings: { amqp: { is: "routingKey", exchange: { name: "shop.events", vhost: "/" } } },
    });
    expect(document.channels["ops.audit"]).toMatchObject({
      address: "audit",
      bindings: { amqp: { is: "queue", queue: { name: "audit", vhost: "ops" } } },
    });
    expect(operations["send.orderCreated"]!.bindings).toEqual({
      amqp: {
        cc: ["order.created"],
        deliveryMode: 1,
        mandatory: true,
        timestamp: true,
        priority: 5,
        expiration: 60_000,
        bindingVersion: "0.3.0",
      },
    });
    // The payload is the publisher's schema.
    const message = operations["send.orderCreated"]!.messages[0]!.$ref.split("/").at(-1)!;
    const component = document.components.messages[message] as { payload: { $ref: string } };
    expect(document.components.schemas[component.payload.$ref.split("/").at(-1)!]).toMatchObject({
      type: "object",
      required: ["id"],
    });
    expect(
      (document.components.messages["cache.invalidate.message"] as { payload?: unknown }).payload,
    ).toBeUndefined();
  });

  it("describes an app that only publishes (no route) too", async () => {
    const app = new App({
      logger: silentLogger,
      name: "producer",
      amqp: { url: "amqp://u:secret@rabbit:5672" },
    });
    app.amqp.publisher({ exchange: "events", routingKey: "user.signed-up" });
    const document = toAsyncAPI(app);
    const { problems } = await validate(document);
    expect(problems).toEqual([]);
    expect(document.servers.amqp).toMatchObject({ host: "rabbit:5672" });
    expect(Object.keys(document.channels)).toEqual(["events.user.signed-up"]);
    expect(Object.values(document.operations)).toMatchObject([
      {
        action: "send",
        summary:
          'Publisher "events:user.signed-up": publishes to exchange events with routing key user.signed-up.',
      },
    ]);
    expect(JSON.stringify(document)).not.toContain("secret");
  });

  it("gives a replying route's receive operation an AsyncAPI reply at the request's replyTo (issue #17)", async () => {
    const app = new App({ logger: silentLogger, name: "rpc", amqp: { url: "amqp://127.0.0.1:5672" } });
    app.route(["prices"], { type: RouteTypes.AMQP, reply: true }, async (messages) => messages.map(() => 1));
    app.route(["plain"], { type: RouteTypes.AMQP }, async () => {});
    const document = toAsyncAPI(app);
    const { problems } = await validate(document);
    expect(problems.map((problem) => `${problem.code}: ${problem.message}`)).toEqual([]);
    const operations = document.operations as Record<string, { channel: { $ref: string }; reply?: unknown }>;
    const byAddress = (queue: string) =>
      Object.values(operations).find((operation) => operation.channel.$ref.endsWith(queue));
    expect(byAddress("prices")?.reply).toMatchObject({ address: { location: "$message.header#/replyTo" } });
    expect(byAddress("plain")?.reply).toBeUndefined();
  });
});
