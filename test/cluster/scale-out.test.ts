import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CliProcess } from "../cli/helpers.js";
import { uniqueName } from "../helpers/amqp.js";
import { declareQuorum, fill, sharedCluster, until } from "./cluster-helpers.js";

/**
 * Issue #18, cluster test 4 (scale-out): `weir run --workers N` on one quorum queue of the 3-node
 * cluster, N = 1 and 2 (this machine has 2 cores), each worker's connection on a node of the URL
 * list picked at random: every message handled once apart from flagged redeliveries. The rates
 * (`[scale-out]` lines) go to docs/performance.md, "On a cluster". The part with two hosts as
 * network namespaces is not done (see docs/cluster.md).
 */

const cluster = sharedCluster();
const MESSAGES = 20_000;
const dir = mkdtempSync(join(tmpdir(), "weir-scale-out-"));
const queues: string[] = [];

afterAll(async () => {
  for (const queue of queues) await cluster.deleteQueue(queue, cluster.nodes[0]!);
  rmSync(dir, { recursive: true, force: true });
});

function lines(file: string): string[][] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split(" "));
}

describe("scale-out on the cluster (issue #18)", () => {
  for (const workers of [1, 2]) {
    it(`test 4: weir run --workers ${workers} drains ${MESSAGES} messages of one quorum queue, each handled once`, {
      timeout: 120_000,
    }, async () => {
      const queue = uniqueName(`cluster-scale-${workers}`);
      queues.push(queue);
      const out = join(dir, `${queue}.out`);
      await declareQuorum(cluster.nodes[0]!, queue);
      await fill(cluster.nodes[0]!, queue, MESSAGES);
      const weir = new CliProcess(
        ["run", "test/cluster/fixtures/scale-app.ts", "--workers", String(workers)],
        {
          WEIR_AMQP_URL: cluster.urls().join(","),
          SCALE_QUEUE: queue,
          SCALE_OUT: out,
          WEIR_LOG_LEVEL: "warn",
        },
      );
      try {
        await until(() => lines(out).length >= MESSAGES, 90_000, `${MESSAGES} messages handled`);
        // A moment for anything handled twice to show.
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        weir.kill("SIGTERM");
      }
      const exit = await weir.exited;
      const rows = lines(out);
      const ids = new Map<string, { copies: number; redelivered: number }>();
      for (const [id, redelivered] of rows) {
        const seen = ids.get(id!) ?? { copies: 0, redelivered: 0 };
        seen.copies++;
        if (redelivered === "1") seen.redelivered++;
        ids.set(id!, seen);
      }
      // An extra copy is fine only as a flagged redelivery (a worker's unacked messages at its stop).
      const unflaggedExtra = [...ids]
        .filter(([, seen]) => seen.copies - 1 > seen.redelivered)
        .map(([id]) => id);
      const times = rows.map((row) => Number(row[2]));
      const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
      const pids = new Set(rows.map((row) => row[3]));
      const figures = {
        workers,
        messages: MESSAGES,
        handled: ids.size,
        deliveries: rows.length,
        duplicates: rows.length - ids.size,
        pidsThatHandled: pids.size,
        seconds: Number(seconds.toFixed(2)),
        msgPerSecond: Math.round(MESSAGES / Math.max(seconds, 0.001)),
      };
      process.stdout.write(`[scale-out] ${JSON.stringify(figures)}\n`);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(ids.size).toBe(MESSAGES);
      expect(unflaggedExtra).toEqual([]);
      expect(pids.size).toBe(workers);
    });
  }
});
