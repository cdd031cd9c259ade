import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CliProcess } from "../cli/helpers.js";
import { uniqueName } from "../helpers/amqp.js";
import { cleanStaleNamespaces, createNamespaceHosts, type NamespaceHosts } from "../helpers/netns.js";
import { declareQuorum, fill, sharedCluster, until } from "./cluster-helpers.js";

/**
 * Issue #18, cluster test 4 (scale-out): 20,000 messages waiting on one quorum queue of the 3-node
 * cluster, drained by `weir run --workers N`, N = 1 and 2 (this machine has 2 cores), each worker's
 * connection on a node of the URL list picked at random; then by two hosts, each a network
 * namespace (test/helpers/netns.ts) running `weir run --workers 1` that reaches the nodes through a
 * bridge address only. Handlers wait for a gate file until every worker consumes, so all of them
 * start together. Every message handled once apart from flagged redeliveries, every worker or host
 * takes a share. The rates (`[scale-out]` lines) go to docs/performance.md, "On a cluster".
 */

const cluster = sharedCluster();
const MESSAGES = 20_000;
const FIXTURE = "test/cluster/fixtures/scale-app.ts";
const dir = mkdtempSync(join(tmpdir(), "weir-scale-out-"));
const queues: string[] = [];
let hosts: NamespaceHosts | undefined;

afterAll(async () => {
  if (hosts !== undefined) {
    await cluster.stopListening(hosts.bridgeAddress);
    await hosts.destroy();
  }
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

/** Each line of every output file: `[messageId, redelivered, ms epoch, pid]`. */
function allLines(files: readonly string[]): string[][] {
  return files.flatMap((file) => lines(file));
}

/** Counts and rate of a run from the lines the workers wrote; asserts once-only handling. */
function judge(configuration: string, files: readonly string[], sharers: number) {
  const rows = allLines(files);
  const ids = new Map<string, { copies: number; redelivered: number }>();
  for (const [id, redelivered] of rows) {
    const seen = ids.get(id!) ?? { copies: 0, redelivered: 0 };
    seen.copies++;
    if (redelivered === "1") seen.redelivered++;
    ids.set(id!, seen);
  }
  // An extra copy is fine only as a flagged redelivery (a worker's unacked messages at its stop).
  const unflaggedExtra = [...ids].filter(([, seen]) => seen.copies - 1 > seen.redelivered).map(([id]) => id);
  const times = rows.map((row) => Number(row[2]));
  const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
  const pids = new Set(rows.map((row) => row[3]));
  const figures = {
    configuration,
    messages: MESSAGES,
    handled: ids.size,
    deliveries: rows.length,
    duplicates: rows.length - ids.size,
    pidsThatHandled: pids.size,
    perFile: files.length > 1 ? files.map((file) => lines(file).length) : undefined,
    seconds: Number(seconds.toFixed(2)),
    msgPerSecond: Math.round(MESSAGES / Math.max(seconds, 0.001)),
  };
  process.stdout.write(`[scale-out] ${JSON.stringify(figures)}\n`);
  expect(ids.size).toBe(MESSAGES);
  expect(unflaggedExtra).toEqual([]);
  expect(pids.size).toBe(sharers);
  if (figures.perFile !== undefined) for (const count of figures.perFile) expect(count).toBeGreaterThan(0);
}

async function consumers(queue: string): Promise<number> {
  const out = await cluster.nodes[0]!.ctl("list_queues", "name", "consumers", "--formatter", "json");
  return (
    (JSON.parse(out) as Array<{ name: string; consumers: number }>).find((row) => row.name === queue)
      ?.consumers ?? 0
  );
}

describe("scale-out on the cluster (issue #18)", () => {
  for (const workers of [1, 2]) {
    it(`test 4: weir run --workers ${workers} drains ${MESSAGES} messages of one quorum queue, each handled once`, {
      timeout: 120_000,
    }, async () => {
      const queue = uniqueName(`cluster-scale-${workers}`);
      queues.push(queue);
      const out = join(dir, `${queue}.out`);
      const gate = join(dir, `${queue}.gate`);
      await declareQuorum(cluster.nodes[0]!, queue);
      await fill(cluster.nodes[0]!, queue, MESSAGES);
      const weir = new CliProcess(["run", FIXTURE, "--workers", String(workers)], {
        WEIR_AMQP_URL: cluster.urls().join(","),
        SCALE_QUEUE: queue,
        SCALE_OUT: out,
        SCALE_GATE: gate,
        WEIR_LOG_LEVEL: "warn",
      });
      try {
        // Every worker consumes (its first messages held at the gate) before any is handled: on a
        // busy machine the first worker up would otherwise drain the queue before the second starts.
        await until(async () => (await consumers(queue)) === workers, 60_000, `${workers} consumers`);
        writeFileSync(gate, "");
        await until(() => lines(out).length >= MESSAGES, 90_000, `${MESSAGES} messages handled`);
        // A moment for anything handled twice to show.
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        weir.kill("SIGTERM");
      }
      const exit = await weir.exited;
      judge(`--workers ${workers}`, [out], workers);
      expect(exit).toEqual({ code: 0, signal: null });
    });
  }

  it(`test 4: two hosts (network namespaces on a bridge) drain ${MESSAGES} messages of one quorum queue, each handled once`, {
    timeout: 120_000,
  }, async () => {
    const stale = await cleanStaleNamespaces();
    if (stale.length > 0)
      process.stdout.write(`[scale-out] removed stale namespaces/links: ${stale.join(", ")}\n`);
    hosts = await createNamespaceHosts(2);
    const urls = await cluster.listenOn(hosts.bridgeAddress);
    const queue = uniqueName("cluster-scale-netns");
    queues.push(queue);
    const outs = hosts.names.map((name) => join(dir, `${queue}.${name}.out`));
    const gate = join(dir, `${queue}.gate`);
    await declareQuorum(cluster.nodes[0]!, queue);
    await fill(cluster.nodes[0]!, queue, MESSAGES);
    const weirs = outs.map(
      (out, index) =>
        new CliProcess(
          ["run", FIXTURE, "--workers", "1"],
          {
            WEIR_AMQP_URL: urls.join(","),
            SCALE_QUEUE: queue,
            SCALE_OUT: out,
            SCALE_GATE: gate,
            WEIR_LOG_LEVEL: "warn",
          },
          hosts!.exec(index),
        ),
    );
    let peers: string[] = [];
    try {
      // Both hosts consume (their first messages held at the gate) before any message is handled.
      await until(async () => (await consumers(queue)) === 2, 60_000, "a consumer on each host");
      const connections = await cluster.nodes[0]!.ctl("list_connections", "peer_host", "--formatter", "json");
      // rabbitmqctl's JSON gives an IPv4 peer as its 4 bytes.
      peers = (JSON.parse(connections) as Array<{ peer_host: string | number[] }>).map((row) =>
        Array.isArray(row.peer_host) ? row.peer_host.join(".") : row.peer_host,
      );
      writeFileSync(gate, "");
      await until(() => allLines(outs).length >= MESSAGES, 90_000, `${MESSAGES} messages handled`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      for (const weir of weirs) weir.kill("SIGTERM");
    }
    const exits = await Promise.all(weirs.map((weir) => weir.exited));
    // Each host reached the cluster from its own address, over the bridge.
    for (const address of hosts.hostAddresses) expect(peers).toContain(address);
    judge("two netns hosts, --workers 1 each", outs, 2);
    for (const exit of exits) expect(exit).toEqual({ code: 0, signal: null });
  });
});
