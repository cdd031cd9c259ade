import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { App } from "../../src/index.js";
import { InvalidOptionError } from "../../src/index.js";
import { resolveHTTPOptions } from "../../src/transports/http/options.js";
import { started, stopAll } from "./helpers.js";

const apps: App[] = [];
afterEach(() => stopAll(apps));

/** A connection that sends a request head one header line at a time and never ends it. */
interface Slow {
  readonly socket: Socket;
  closedAt: number | undefined;
}

function portOf(app: App): number {
  const port = app.http.address?.port;
  if (port === undefined) throw new Error("the app is not listening");
  return port;
}

/** Opens `count` slowloris connections; each writes a header line every `everyMs` until closed. */
async function slowloris(
  port: number,
  count: number,
  everyMs: number,
): Promise<{ all: Slow[]; stop(): void }> {
  const all: Slow[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => {
            socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            resolve();
          });
          const slow: Slow = { socket, closedAt: undefined };
          socket.on("error", () => {});
          socket.on("close", () => {
            slow.closedAt = Date.now();
          });
          socket.once("error", reject);
          all.push(slow);
        }),
    ),
  );
  let line = 0;
  const timer = setInterval(() => {
    line++;
    for (const slow of all) if (slow.closedAt === undefined) slow.socket.write(`x-slow-${line}: 1\r\n`);
  }, everyMs);
  return {
    all,
    stop() {
      clearInterval(timer);
      for (const slow of all) slow.socket.destroy();
    },
  };
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe("HTTP timeouts against slow clients (issue 15.5: unbounded input on the other transports)", () => {
  it("closes 200 slowloris connections within headersTimeout (default 10 s), and the server keeps answering", async () => {
    const app = await started(apps, (app) => app.http.get("/", async () => "ok"));
    const port = portOf(app);
    const began = Date.now();
    const attack = await slowloris(port, 200, 1_000);
    try {
      // Meanwhile, a normal request is served.
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
      await until(() => attack.all.every((slow) => slow.closedAt !== undefined), 20_000);
      const lifetimes = attack.all.map((slow) => (slow.closedAt ?? Date.now()) - began);
      const longest = Math.max(...lifetimes);
      console.log(
        `slowloris: ${attack.all.length} connections, lived ${Math.min(...lifetimes)}..${longest} ms`,
      );
      expect(attack.all.filter((slow) => slow.closedAt === undefined)).toHaveLength(0);
      // 10 s for the head, plus Node's connection check (every second), plus a loaded machine's slack.
      expect(longest).toBeLessThan(15_000);
      expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(9_000);
    } finally {
      attack.stop();
    }
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
  }, 30_000);

  it("applies overrides: a slow head, a slow body and an idle kept-alive connection are each cut on time", async () => {
    const app = await started(apps, (app) => app.http.post("/", async () => "ok"), {
      http: { headersTimeout: 400, requestTimeout: 800, keepAliveTimeout: 300 },
    });
    const port = portOf(app);
    const began = Date.now();
    const head = await slowloris(port, 5, 100);
    // A body trickled a byte at a time: the head is complete, the request never is.
    const body = connect(port, "127.0.0.1");
    let bodyClosedAt: number | undefined;
    body.on("error", () => {});
    body.on("close", () => {
      bodyClosedAt = Date.now();
    });
    body.write(
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n",
    );
    const trickle = setInterval(() => body.write("a"), 100);
    // A kept-alive connection that sent one request and then nothing.
    const idle = connect(port, "127.0.0.1");
    let idleClosedAt: number | undefined;
    let answered = "";
    idle.on("data", (chunk) => {
      answered += chunk.toString();
    });
    idle.on("close", () => {
      idleClosedAt = Date.now();
    });
    idle.write("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
    try {
      await until(
        () =>
          head.all.every((slow) => slow.closedAt !== undefined) &&
          bodyClosedAt !== undefined &&
          idleClosedAt !== undefined,
        5_000,
      );
      expect(
        Math.max(...head.all.map((slow) => (slow.closedAt ?? Number.POSITIVE_INFINITY) - began)),
      ).toBeLessThan(2_000);
      expect((bodyClosedAt ?? Number.POSITIVE_INFINITY) - began).toBeLessThan(2_500);
      expect((bodyClosedAt ?? 0) - began).toBeGreaterThanOrEqual(700);
      expect(answered).toContain("200 OK");
      expect((idleClosedAt ?? Number.POSITIVE_INFINITY) - began).toBeLessThan(1_500);
    } finally {
      clearInterval(trickle);
      head.stop();
      body.destroy();
      idle.destroy();
    }
  });

  it("closes clients that go silent (nothing sent, half a head, half a body), not a slow handler's (Node 20 checks its timeouts only when bytes arrive)", async () => {
    const app = await started(
      apps,
      (app) => {
        app.http.get("/slow", async () => {
          await new Promise((resolve) => setTimeout(resolve, 1_200));
          return "finally";
        });
        app.http.post("/", async () => "ok");
      },
      { http: { headersTimeout: 400, requestTimeout: 2_000 } },
    );
    const port = portOf(app);
    const began = Date.now();
    const silent = [
      "",
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc",
    ];
    const closedAt: (number | undefined)[] = silent.map(() => undefined);
    const sockets = silent.map((text, i) => {
      const socket = connect(port, "127.0.0.1", () => {
        if (text) socket.write(text);
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        closedAt[i] = Date.now() - began;
      });
      // Read what the server sends (Node may answer a timed-out head with a 408 before it closes):
      // a socket with unread data would never report the close.
      socket.resume();
      return socket;
    });
    try {
      // A handler that takes three times the inactivity timeout, sending nothing meanwhile.
      const slow = await fetch(`http://127.0.0.1:${port}/slow`);
      expect(await slow.text()).toBe("finally");
      await until(() => closedAt.every((at) => at !== undefined), 8_000);
      // Each closed (Node 20 alone would keep them open forever: it checks its timeouts only when
      // bytes arrive), not before the 400 ms head timeout. The upper bound leaves room for a loaded
      // machine: on a quiet one they close at ~0.4-1 s.
      expect(closedAt.map((at) => at !== undefined && at >= 350 && at < 8_000)).toEqual([true, true, true]);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it("leaves a kept-alive connection idle between requests to keepAliveTimeout, even above headersTimeout", async () => {
    const app = await started(apps, (app) => app.http.get("/", async () => "ok"), {
      http: { headersTimeout: 300, keepAliveTimeout: 1_500 },
    });
    const idle = connect(portOf(app), "127.0.0.1");
    const began = Date.now();
    let closedAt: number | undefined;
    let answered = "";
    idle.on("data", (chunk) => {
      answered += chunk.toString();
    });
    idle.on("error", () => {});
    idle.on("close", () => {
      closedAt = Date.now() - began;
    });
    idle.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    try {
      await until(() => closedAt !== undefined, 6_000);
      expect(answered).toContain("200 OK");
      // Not cut by the silence rule (300 ms, swept every 300 ms), but by the keep-alive timeout.
      expect(closedAt).toBeGreaterThanOrEqual(1_400);
      expect(closedAt).toBeLessThan(6_000);
    } finally {
      idle.destroy();
    }
  });

  it("has defaults, takes fastify's own settings when weir's are not given, and refuses both, or nonsense", () => {
    expect(resolveHTTPOptions({}, {})).toMatchObject({
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
    });
    expect(
      resolveHTTPOptions(
        { headersTimeout: 20_000, fastify: { requestTimeout: 60_000, keepAliveTimeout: 75_000 } },
        {},
      ),
    ).toMatchObject({ headersTimeout: 20_000, requestTimeout: 60_000, keepAliveTimeout: 75_000 });
    expect(() =>
      resolveHTTPOptions({ requestTimeout: 1_000, fastify: { requestTimeout: 2_000 } }, {}),
    ).toThrow(InvalidOptionError);
    expect(() => resolveHTTPOptions({ headersTimeout: 0 }, {})).toThrow(InvalidOptionError);
    expect(() => resolveHTTPOptions({ headersTimeout: 5_000, requestTimeout: 1_000 }, {})).toThrow(
      InvalidOptionError,
    );
    // 0 turns the request timeout off (Node's meaning); the head is still bounded.
    expect(resolveHTTPOptions({ requestTimeout: 0 }, {})).toMatchObject({
      requestTimeout: 0,
      headersTimeout: 10_000,
    });
  });
});
