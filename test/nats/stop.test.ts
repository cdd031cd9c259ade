import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ChildWorker } from "../helpers/child-worker.js";
import { NATSAdmin, uniqueStream } from "../helpers/nats.js";
import { until } from "../transports/delivery-behaviour.js";

/**
 * A graceful stop mid-run (SIGTERM to a worker in its own process), then a restarted worker on the
 * same durable consumer: every message handled exactly once across the two, none lost. Repeated,
 * since what goes wrong at a stop is a race (the last bulk's acks against the close, a pull request
 * still open on the server when the worker unsubscribes). After each stop, before the restart, the
 * consumer's ack floor must be the last message the worker handled: below it, an ack of the stop was
 * lost, or nats-server (before 2.10.14) stepped its position back after a failed delivery and is
 * about to hand that message out again as new (docs/nats.md, "Delivery guarantees").
 */
describe("nats: a graceful stop mid-run, then a restart", () => {
  const workers: ChildWorker[] = [];
  let admin: NATSAdmin | undefined;
  afterEach(async () => {
    for (const worker of workers.splice(0)) if (!worker.exited) worker.kill("SIGKILL");
    await admin?.close();
    admin = undefined;
  });

  it("SIGTERM while bulks are in the handler: no message handled twice, none lost (5 runs)", async () => {
    admin = await NATSAdmin.connect();
    const total = 300;
    const runs = 5;
    const report: string[] = [];
    for (let run = 0; run < runs; run++) {
      const stream = await admin.stream(uniqueStream("stop"));
      await admin.publish(
        `${stream}.m`,
        Array.from({ length: total }, (_, id) => ({ id })),
      );
      const env = {
        STREAM: stream,
        CONSUMER: "workers",
        APP_NAME: `stop-${randomUUID().slice(0, 8)}`,
        BULK_SIZE: "10",
        PREFETCH: "128",
        FLUSH_MS: "300",
        // Short, so a delivery whose ack the stop lost comes back (flagged) within the run.
        ACK_WAIT_MS: "3000",
        HANDLER_DELAY_MS: "100",
      };
      const spawn = () => {
        const worker = new ChildWorker(env, "test/nats/worker.ts");
        workers.push(worker);
        return worker;
      };
      const first = spawn();
      // Stopped at a different point of a bulk each run.
      const after = 60 + run * 17;
      await until(() => first.doneIds.length >= after, `the first worker past ${after} messages`, 30_000);
      first.kill("SIGTERM");
      await first.waitExit(15_000);
      expect(first.exited?.code).toBe(0);

      const info = await admin.jsm.consumers.info(stream, "workers");
      const lastHandled = Math.max(...first.doneIds) + 1; // ids are stream sequences - 1
      const second = spawn();
      const handled = () => new Set([...first.doneIds, ...second.doneIds]).size;
      await until(() => handled() === total, "every message handled", 30_000);
      // A message the stop left unacknowledged would come back after the ack wait: given the time.
      await until(async () => (await admin!.backlog(stream, "workers")) === 0, "nothing pending", 10_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      second.kill("SIGTERM");
      await second.waitExit(15_000);

      const counts = new Map<number, number>();
      for (const id of [...first.doneIds, ...second.doneIds]) counts.set(id, (counts.get(id) ?? 0) + 1);
      const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
      report.push(
        `run ${run}: first=${first.doneIds.length} lastSeq=${lastHandled} ackFloor=${info.ack_floor.stream_seq} ` +
          `delivered=${info.delivered.stream_seq} ackPending=${info.num_ack_pending} twice=[${twice}]`,
      );
      expect({ run, lost: total - counts.size, twice }).toEqual({ run, lost: 0, twice: [] });
      // What the stop left on the server: everything it handled acked (a server that stepped its
      // position back caps its floor there, below the last message handled).
      expect({ run, ackFloor: info.ack_floor.stream_seq }).toEqual({ run, ackFloor: lastHandled });
      await admin.jsm.streams.delete(stream);
    }
    console.log(`[nats stop + restart]\n${report.join("\n")}`);
  }, 240_000);
});
