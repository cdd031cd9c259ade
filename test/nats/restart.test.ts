import { afterEach, describe, expect, it } from "vitest";
import { type NATSMessage, RouteTypes } from "../../src/index.js";
import { createNATSApp, NATSAdmin, OwnNATSServer, uniqueStream } from "../helpers/nats.js";
import { until } from "../transports/delivery-behaviour.js";

/**
 * A server restart mid-run: the test's own nats-server (never the shared one on 4222), killed with
 * SIGKILL while the route has messages in flight, then started again on the same port and store.
 * The route must resume by itself; every message published (acked by the stream) is handled; a
 * message handled twice is one JetStream redelivered (flagged), never a silent duplicate. The
 * figures (lost, duplicates, resume time) are printed for the closing note.
 */
describe("nats: a server restart mid-run", () => {
  let server: OwnNATSServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function run(
    signal: NodeJS.Signals,
  ): Promise<{ lost: number; unflagged: number[]; resumeMs: number }> {
    server = await OwnNATSServer.start();
    const url = server.url;
    const admin = await NATSAdmin.connect(url);
    const stream = await admin.stream(uniqueStream("restart"));
    const total = 1_500;
    await admin.publish(
      `${stream}.m`,
      Array.from({ length: 1_000 }, (_, n) => ({ n })),
    );
    const app = createNATSApp({ name: uniqueStream("restart"), shutdownTimeout: 5_000 }, url);
    const seen = new Map<number, number>();
    const unflagged: number[] = [];
    let handled = 0;
    let lastHandled = 0;
    app.route(
      [stream],
      { type: RouteTypes.NATS, prefetch: 50, options: { bulkSize: 10, bulkFlushInterval: 50 } },
      async (messages: NATSMessage<{ n: number }>[]) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        for (const m of messages) {
          const times = (seen.get(m.body.n) ?? 0) + 1;
          seen.set(m.body.n, times);
          if (times > 1 && !m.redelivered) unflagged.push(m.body.n);
          handled++;
          lastHandled = Date.now();
        }
      },
    );
    try {
      await app.start();
      await until(() => handled >= 300, "a third of the messages handled", 20_000);
      const inFlight = app.health().transports.find((t) => t.transport === "nats")?.routes[0]?.inFlight;
      await server!.restart(500, signal);
      const back = Date.now();
      const before = lastHandled;
      await until(() => lastHandled > back, "the route to handle again after the restart", 30_000);
      const resumeMs = lastHandled - back;
      // Published after the restart, through the admin connection that reconnected by itself.
      await until(
        async () =>
          admin
            .publish(`${stream}.m`, [{ n: 1_000 }])
            .then(() => true)
            .catch(() => false),
        "a publish after the restart",
      );
      await admin.publish(
        `${stream}.m`,
        Array.from({ length: total - 1_001 }, (_, i) => ({ n: 1_001 + i })),
      );
      await until(() => seen.size === total, `all ${total} messages handled`, 60_000);
      await until(
        async () => (await admin.backlog(stream, app.name)) === 0,
        "nothing left unsettled",
        30_000,
      );
      const lost = total - seen.size;
      const duplicates = handled - seen.size;
      console.log(
        JSON.stringify({
          nats_restart: {
            signal,
            total,
            inFlightAtKill: inFlight,
            lost,
            duplicates,
            unflagged: unflagged.length,
            resumeMs,
            lastBeforeKillMsAgo: back - before,
          },
        }),
      );
      expect(app.health().ready).toBe(true);
      return { lost, unflagged, resumeMs };
    } finally {
      await app.stop();
      await admin.close();
    }
  }

  it("SIGTERM (a restart): resumes consuming, loses nothing acked, its only duplicates are flagged redeliveries", async () => {
    const { lost, unflagged, resumeMs } = await run("SIGTERM");
    expect(lost).toBe(0);
    expect(unflagged).toEqual([]);
    expect(resumeMs).toBeLessThan(15_000);
  }, 120_000);

  // A killed server loses the consumer state it had not synced yet (JetStream writes it lazily):
  // messages delivered (and acked) just before the kill come again as first deliveries, which no
  // client can tell from new ones. weir's `once` (with a shared store) is the answer there.
  it("SIGKILL: resumes consuming and loses nothing acked (unflagged duplicates counted, not refused)", async () => {
    const { lost, resumeMs } = await run("SIGKILL");
    expect(lost).toBe(0);
    expect(resumeMs).toBeLessThan(15_000);
  }, 120_000);
});
