import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { type App, NATSStreamCreateError, RouteTypes, toAsyncAPI } from "../../src/index.js";
import { createTestClient } from "../../src/testing/index.js";
import { captureLogs } from "../helpers/logs.js";
import { createNATSApp, NATSAdmin, uniqueStream } from "../helpers/nats.js";
import { until } from "../transports/delivery-behaviour.js";

describe("nats: declare (one route-level name for creating what a route reads, as on AMQP)", () => {
  let admin: NATSAdmin;
  const apps: App[] = [];
  const app = (options: Parameters<typeof createNATSApp>[0] = {}) => {
    const made = createNATSApp({ name: uniqueStream("app"), ...options });
    apps.push(made);
    return made;
  };
  beforeEach(async () => {
    admin = await NATSAdmin.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop()));
    await admin.close();
  });

  const subjectsOf = async (stream: string) => (await admin.jsm.streams.info(stream)).config.subjects;

  it("declare: true creates a missing stream capturing <stream> and <stream>.>: publishes to both reach the handler; describe and AsyncAPI tell the subjects", async () => {
    const stream = uniqueStream("declared");
    admin.track(stream);
    const a = app();
    const got: { subject: string; body: unknown }[] = [];
    a.route([stream], { type: RouteTypes.NATS, declare: true }, async (messages) => {
      for (const m of messages) got.push({ subject: m.subject, body: m.body });
    });
    await a.start();
    expect(await subjectsOf(stream)).toEqual([stream, `${stream}.>`]);
    await a.nats.publish({ n: 1 }, { subject: stream });
    await a.nats.publish({ n: 2 }, { subject: `${stream}.x` });
    await until(() => got.length === 2, "both messages");
    expect(got).toEqual([
      { subject: stream, body: { n: 1 } },
      { subject: `${stream}.x`, body: { n: 2 } },
    ]);
    const info = await admin.jsm.streams.info(stream);
    expect(info.config).toMatchObject({ storage: "file", retention: "limits" });

    const details = a[appTransports].get("nats")?.describe(a.routes[0]!).details;
    expect(details).toMatchObject({ declare: true, subjects: `${stream},${stream}.>` });
    const channel = Object.values(toAsyncAPI(a).channels)[0] as {
      address: string | null;
      description: string;
    };
    expect(channel.description).toContain(`subjects ${stream}, ${stream}.>`);
  });

  it("declare: true leaves an existing stream as it is (its own subjects), reads it, and warns that it lacks the declared subjects", async () => {
    const name = uniqueStream("existing");
    const stream = await admin.stream(name, [`other_${name}.>`]);
    await admin.publish(`other_${name}.one`, [{ n: 1 }]);
    const { logger, lines } = captureLogs("warn");
    const a = app({ logger });
    const got: unknown[] = [];
    a.route([stream], { type: RouteTypes.NATS, declare: true }, async (messages) => {
      for (const m of messages) got.push(m.body);
    });
    await a.start();
    await until(() => got.length === 1, "the message of the existing stream");
    expect(got).toEqual([{ n: 1 }]);
    expect(await subjectsOf(stream)).toEqual([`other_${name}.>`]);
    // Another app (or a hand) made it otherwise: the route's own publishes would find no stream.
    expect(lines.filter((line) => /exists without some of the subjects/.test(line.msg))).toEqual([
      expect.objectContaining({ stream, subjects: [`other_${name}.>`], wanted: [stream, `${stream}.>`] }),
    ]);
  });

  it("a declared stream JetStream refuses to create (another stream captures its subjects) fails start() with WEIR_ERR_NATS_STREAM_CREATE saying so", async () => {
    const taken = uniqueStream("taken");
    const holder = await admin.stream(uniqueStream("holder"), [taken, `${taken}.>`]);
    const a = app();
    a.route([taken], { type: RouteTypes.NATS, declare: true }, async () => {});
    const failure = await a.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(NATSStreamCreateError);
    expect(failure).toMatchObject({
      code: "WEIR_ERR_NATS_STREAM_CREATE",
      stream: taken,
      subjects: [taken, `${taken}.>`],
      message: expect.stringContaining("another stream already captures one of these subjects"),
    });
    await expect(admin.jsm.streams.info(taken)).rejects.toThrow();
    expect(await subjectsOf(holder)).toEqual([taken, `${taken}.>`]);
  });

  it("two routes declaring the same missing stream both start (at once) and each reads its subject", async () => {
    const stream = uniqueStream("twice");
    admin.track(stream);
    const a = app();
    const plain: unknown[] = [];
    const dotted: unknown[] = [];
    a.route([stream], { type: RouteTypes.NATS, declare: true, subject: stream }, async (messages) => {
      for (const m of messages) plain.push(m.body);
    });
    a.route([stream], { type: RouteTypes.NATS, declare: true, subject: `${stream}.x` }, async (messages) => {
      for (const m of messages) dotted.push(m.body);
    });
    // A second worker of another app declaring it at the same time.
    const b = app();
    b.route([stream], { type: RouteTypes.NATS, declare: true }, async () => {});
    await Promise.all([a.start(), b.start()]);
    expect(await subjectsOf(stream)).toEqual([stream, `${stream}.>`]);
    await a.nats.publish("plain", { subject: stream });
    await a.nats.publish("dotted", { subject: `${stream}.x` });
    await until(() => plain.length === 1 && dotted.length === 1, "one message each");
    expect(plain).toEqual(["plain"]);
    expect(dotted).toEqual(["dotted"]);
  });

  it("dead letters of a declared stream go to weir.dlq.<stream> in <stream>-dlq, which the declared subjects never capture", async () => {
    const stream = uniqueStream("declaredlq");
    admin.track(stream);
    admin.track(`${stream}-dlq`);
    const a = app();
    a.route(
      [stream],
      {
        type: RouteTypes.NATS,
        declare: true,
        retry: { maxAttempts: 1 },
        deadLetter: true,
        options: { bulkSize: 1 },
      },
      async () => {
        throw new Error("boom");
      },
    );
    await a.start();
    await a.nats.publish({ n: 1 }, { subject: stream });
    await until(async () => (await admin.count(`${stream}-dlq`).catch(() => 0)) === 1, "the dead letter");
    expect(await admin.count(stream)).toBe(1);
    expect(await subjectsOf(`${stream}-dlq`)).toEqual([`weir.dlq.${stream}`]);
    expect((await admin.messages(`${stream}-dlq`))[0]).toMatchObject({
      subject: `weir.dlq.${stream}`,
      body: { n: 1 },
    });
  });

  it("subjects still creates the stream (declare is implied); declare: true with subjects uses them", async () => {
    const stream = uniqueStream("withsubjects");
    admin.track(stream);
    const a = app();
    a.route([stream], { type: RouteTypes.NATS, declare: true, subjects: [`${stream}.in.>`] }, async () => {});
    await a.start();
    expect(await subjectsOf(stream)).toEqual([`${stream}.in.>`]);
    expect(a[appTransports].get("nats")?.describe(a.routes[0]!).details).toMatchObject({
      declare: true,
      subjects: `${stream}.in.>`,
    });
  });

  it("refused at app.route: declare false with subjects, declare not a boolean, a declared stream whose subjects would capture the dead-letter subject", () => {
    const a = app();
    const refused = (spec: Record<string, unknown>, routes = ["S1"]) => {
      try {
        a.route(routes, { type: RouteTypes.NATS, ...spec } as never, async () => {});
      } catch (error) {
        return error as { code: string; option: string; message: string };
      }
      throw new Error(`accepted ${JSON.stringify(spec)}`);
    };
    expect(refused({ declare: false, subjects: ["s1.>"] })).toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "declare",
      message: expect.stringContaining("subjects"),
    });
    expect(refused({ declare: "yes" })).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "declare" });
    expect(refused({ declare: 1 })).toMatchObject({ code: "WEIR_ERR_INVALID_OPTION", option: "declare" });
    // The usual AMQP queue name, brought along: a stream name to use instead is offered.
    expect(refused({ declare: true }, ["orders.created"])).toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      message: expect.stringContaining('name the stream "orders_created"'),
    });
    // "weir.>" would capture weir.dlq.<any stream>: JetStream refuses overlapping streams.
    expect(refused({ declare: true }, ["weir"])).toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      message: expect.stringContaining("weir.dlq."),
    });
    // A dead-letter subject of your own inside the declared subjects.
    expect(refused({ declare: true, deadLetter: { subject: "S1.dead" } })).toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "deadLetter.subject",
    });
    expect(refused({ declare: true, deadLetter: { subject: "S1" } })).toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "deadLetter.subject",
    });
    expect(a.routes).toHaveLength(0);
    // Still fine: declare false alone (today's behaviour), declare with a dead-letter subject outside.
    a.route(["S1"], { type: RouteTypes.NATS, declare: false }, async () => {});
    a.route(
      ["S2"],
      { type: RouteTypes.NATS, declare: true, deadLetter: { subject: "dead.S2" } },
      async () => {},
    );
    expect(a.routes).toHaveLength(2);
    // Two routes declaring one stream with different subjects: one of them would silently not apply.
    expect(refused({ subjects: ["S2.in.>"] }, ["S2"])).toMatchObject({
      code: "WEIR_ERR_INVALID_OPTION",
      option: "subjects",
      message: expect.stringContaining("S2, S2.>"),
    });
    a.route(["S2"], { type: RouteTypes.NATS, declare: true, subject: "S2.x" }, async () => {});
    expect(a.routes).toHaveLength(3);
  });

  it("without declare (or subjects) a missing stream fails start() with WEIR_ERR_NATS_STREAM_NOT_FOUND, whose message names declare: true", async () => {
    const missing = uniqueStream("missing");
    const a = app();
    a.route([missing], { type: RouteTypes.NATS }, async () => {});
    await expect(a.start()).rejects.toMatchObject({
      code: "WEIR_ERR_NATS_STREAM_NOT_FOUND",
      message: expect.stringContaining("declare: true"),
    });
    await expect(admin.jsm.streams.info(missing)).rejects.toThrow();
  });

  it("weir/testing: a declared stream captures <stream> and <stream>.> in memory too", async () => {
    const a = createNATSApp({ name: "declare-testing" });
    const got: unknown[] = [];
    a.route(["ORDERS"], { type: RouteTypes.NATS, declare: true }, async (messages) => {
      for (const m of messages) got.push(m.body);
    });
    const client = createTestClient(a);
    try {
      expect((await client.nats.publish("ORDERS", { n: 1 })).outcome).toBe("ack");
      expect((await client.nats.publish("ORDERS.created", { n: 2 })).outcome).toBe("ack");
      expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      await client.close();
    }
  });
});
