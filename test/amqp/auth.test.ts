import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { App, ConnectionError, RouteTypes } from "../../src/index.js";
import { AMQP_URL, uniqueName, waitFor } from "../helpers/amqp.js";
import { captureLogs, ERROR } from "../helpers/logs.js";
import { closeConnections, TestAccess } from "../helpers/rabbitmqctl.js";

/** The broker URL with other credentials and vhost. */
function urlFor(user: string, password: string, vhost = "/"): string {
  const url = new URL(AMQP_URL);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

async function refusal(promise: Promise<unknown>): Promise<{ error: ConnectionError; ms: number }> {
  const began = Date.now();
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(ConnectionError);
  return { error: error as ConnectionError, ms: Date.now() - began };
}

describe("a refusal of the credentials or the vhost is not an outage (403 / 530, issue 13)", () => {
  let access: TestAccess;
  const apps: App[] = [];
  beforeAll(async () => {
    access = await TestAccess.create(randomUUID().slice(0, 8));
  }, 60_000);
  afterAll(async () => {
    await access?.remove();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });

  function newApp(url: string, logger = captureLogs().logger): App {
    const app = new App({
      name: "auth-test",
      logger,
      shutdownTimeout: 2000,
      amqp: { url, reconnect: { floor: 20, ceiling: 100 }, publishTimeout: 10_000 },
    });
    apps.push(app);
    return app;
  }

  it("a wrong password: start() rejects at once with WEIR_ERR_AUTH naming user and vhost, never the password", async () => {
    const logs = captureLogs();
    const app = newApp(urlFor("guest", "not-the-password"), logs.logger);
    app.route([uniqueName("auth")], { type: RouteTypes.AMQP, declare: true }, async () => {});
    const { error, ms } = await refusal(app.start());
    expect(ms).toBeLessThan(3000);
    expect(error.code).toBe("WEIR_ERR_AUTH");
    expect(error.message).toContain('user "guest"');
    expect(error.message).toContain('vhost "/"');
    expect(error.message).toContain("403");
    expect(error.message).not.toContain("not-the-password");
    const errors = logs.lines.filter((line) => line.level >= ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: "WEIR_ERR_AUTH" });
    expect(JSON.stringify(logs.lines)).not.toContain("not-the-password");
  });

  it("a vhost the user may not use: start() rejects at once with WEIR_ERR_AUTH naming user and vhost", async () => {
    const app = newApp(urlFor(access.user, access.password, access.vhost));
    app.route([uniqueName("auth")], { type: RouteTypes.AMQP, declare: true }, async () => {});
    const { error, ms } = await refusal(app.start());
    expect(ms).toBeLessThan(3000);
    expect(error.code).toBe("WEIR_ERR_AUTH");
    expect(error.message).toContain(`user "${access.user}"`);
    expect(error.message).toContain(`vhost "${access.vhost}"`);
    expect(error.message).not.toContain(access.password);
  });

  it("publishing through a refused connection rejects at once with WEIR_ERR_AUTH, instead of waiting for publishTimeout", async () => {
    const wrong = newApp(urlFor("guest", "not-the-password"));
    const first = await refusal(wrong.amqp.publish({ n: 1 }, { routingKey: "anything" }));
    expect(first.error.code).toBe("WEIR_ERR_AUTH");
    expect(first.ms).toBeLessThan(3000);
    const denied = newApp(urlFor(access.user, access.password, access.vhost));
    const second = await refusal(denied.amqp.publish({ n: 1 }, { routingKey: "anything" }));
    expect(second.error.code).toBe("WEIR_ERR_AUTH");
    expect(second.ms).toBeLessThan(3000);
  });

  it("after a successful start, a refusal on reconnect is logged at error with WEIR_ERR_AUTH and retried with backoff", async () => {
    await access.allow();
    const logs = captureLogs();
    const app = newApp(urlFor(access.user, access.password, access.vhost), logs.logger);
    const queue = uniqueName("auth-reconnect");
    const seen: unknown[] = [];
    app.route([queue], { type: RouteTypes.AMQP, declare: { autoDelete: true } }, async (messages) => {
      seen.push(...messages.map((m) => m.body));
    });
    await app.start();
    // The password changes under a running worker, and its connection drops: 403 on every reconnect.
    await access.changePassword("rotated");
    expect(await closeConnections(`weir:auth-test:${access.vhost}`)).toBe(1);
    const refusals = () => logs.lines.filter((line) => line.code === "WEIR_ERR_AUTH");
    await waitFor(() => refusals().length >= 3, 10_000, "three refused reconnects");
    expect(refusals().every((line) => line.level === ERROR)).toBe(true);
    expect(refusals()[0]).toMatchObject({ attempt: 1, reason: expect.stringContaining("403") });
    // A publish meanwhile is told why, at once.
    const during = await refusal(app.amqp.publish({ n: 0 }, { routingKey: queue }));
    expect(during.error.code).toBe("WEIR_ERR_AUTH");
    expect(during.ms).toBeLessThan(3000);
    // The password is back but the vhost is closed to the user: 530 at connection.open.
    await access.deny();
    await access.changePassword(access.password);
    const before = refusals().length;
    await waitFor(
      () =>
        refusals()
          .slice(before)
          .some((line) => /connection\.open/.test(String(line.reason))),
      10_000,
      "a refusal of the vhost",
    );
    // Access restored: the worker reconnects by itself and consumes again.
    await access.allow();
    await waitFor(() => app.health().ready, 15_000, "the route to be ready again");
    await app.amqp.publish({ n: 1 }, { routingKey: queue });
    await waitFor(() => seen.length === 1, 5000, "the message after recovery");
    expect(JSON.stringify(logs.lines)).not.toContain(access.password);
  }, 60_000);
});
