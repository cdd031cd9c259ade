import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { App, InvalidOptionError, RouteTypes } from "../../src/index.js";
import { AMQP_URL, silentLogger, uniqueName } from "../helpers/amqp.js";

/**
 * `amqp.noDelay` (issue #19, first delivery): weir's connections set TCP_NODELAY unless told not
 * to. Read off the real sockets the app opened to RabbitMQ: Node keeps the flag a socket was given
 * (`setNoDelay`) under its own `kSetNoDelay` symbol, on Node 20 and 24 alike, and nothing else shows it.
 */

const brokerPort = Number(new URL(AMQP_URL).port || 5672);

/** Every open TCP socket of this process to the broker's port. */
function brokerSockets(): Socket[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter(
    (handle): handle is Socket =>
      typeof handle === "object" && handle !== null && (handle as Socket).remotePort === brokerPort,
  );
}

function noDelayOf(socket: Socket): unknown {
  const symbol = Object.getOwnPropertySymbols(socket).find((each) => String(each) === "Symbol(kSetNoDelay)");
  if (symbol === undefined) throw new Error("this Node keeps no kSetNoDelay on its sockets");
  return (socket as unknown as Record<symbol, unknown>)[symbol];
}

const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.stop();
});

/** Starts an app with one route and one publish (so both its connections are open); returns the sockets it opened. */
async function socketsOf(amqp: { noDelay?: boolean }): Promise<Socket[]> {
  const before = new Set(brokerSockets());
  const app = new App({
    name: uniqueName("nodelay"),
    logger: silentLogger,
    amqp: { url: AMQP_URL, ...amqp },
  });
  apps.push(app);
  const queue = uniqueName("nodelay");
  app.route([queue], { type: RouteTypes.AMQP, declare: { autoDelete: true } }, async () => {});
  await app.start();
  await app.amqp.publish({ id: 1 }, { routingKey: queue });
  return brokerSockets().filter((socket) => !before.has(socket));
}

describe("amqp.noDelay", () => {
  it("is on by default: the consuming and the publishing connection set TCP_NODELAY", async () => {
    const sockets = await socketsOf({});
    expect(sockets).toHaveLength(2);
    expect(sockets.map(noDelayOf)).toEqual([true, true]);
  });

  it("false leaves the sockets as amqplib makes them (Nagle's algorithm on)", async () => {
    const sockets = await socketsOf({ noDelay: false });
    expect(sockets).toHaveLength(2);
    expect(sockets.map(noDelayOf)).toEqual([false, false]);
  });

  it("anything but a boolean is refused in new App()", () => {
    const make = () => new App({ logger: silentLogger, amqp: { noDelay: "yes" as unknown as boolean } });
    expect(make).toThrow(InvalidOptionError);
    expect(make).toThrow(/amqp\.noDelay/);
  });
});
