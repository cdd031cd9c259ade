import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type RabbitNode, type RabbitNodeInfo, rabbitNode, startRabbitCluster } from "./rabbit-node.js";

/**
 * A 3-node RabbitMQ cluster of extra nodes (rabbit-node.ts: their own ports in 5700–5999, their own
 * data; the node on 5672 is never touched), for the cluster tests (issue #18). The vitest project
 * `cluster` starts one in its globalSetup (test/cluster/global-setup.ts) and hands its nodes to the
 * test files, which stop, kill and restart nodes through this helper.
 */

const run = promisify(execFile);

/** Where a quorum queue's replicas are, as `rabbitmqctl list_queues name leader members online` says. */
export interface QueuePlacement {
  /** The node holding the leader, e.g. `weirt123n1@localhost`. */
  readonly leader: string;
  readonly members: readonly string[];
  /** The members currently up. */
  readonly online: readonly string[];
}

export class RabbitTestCluster {
  constructor(readonly nodes: readonly RabbitNode[]) {}

  /** A cluster described by `describe()` (in another process: the globalSetup). */
  static from(infos: readonly RabbitNodeInfo[]): RabbitTestCluster {
    return new RabbitTestCluster(infos.map((info) => rabbitNode(info)));
  }

  /** Starts `size` nodes and joins them (about 15–25 s for three on this machine). */
  static async start(size = 3): Promise<RabbitTestCluster & { describe(): RabbitNodeInfo[] }> {
    const cluster = await startRabbitCluster(size);
    const infos = cluster.nodes.map((node) => ({
      short: node.node.split("@")[0]!,
      port: node.port,
      dir: node.dir,
    }));
    return Object.assign(new RabbitTestCluster(cluster.nodes), { describe: () => infos });
  }

  /** Every node's URL, in order. */
  urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  /** Every node's URL, starting at `first` (a worker's URL list with its preferred node first). */
  urlsFrom(first: RabbitNode): string[] {
    const start = this.nodes.indexOf(first);
    if (start < 0) throw new Error(`${first.node} is not a node of this cluster`);
    return this.nodes.map((_, index) => this.nodes[(start + index) % this.nodes.length]!.url);
  }

  /** The node named `name` (`<short>@localhost`). */
  node(name: string): RabbitNode {
    const node = this.nodes.find((each) => each.node === name);
    if (node === undefined) throw new Error(`no node ${name} in this cluster`);
    return node;
  }

  /** The node that owns `host:port` (as weir's health shows a connection's node). */
  nodeAt(address: string): RabbitNode {
    const node = this.nodes.find((each) => `127.0.0.1:${each.port}` === address);
    if (node === undefined) throw new Error(`no node at ${address} in this cluster`);
    return node;
  }

  /** The nodes that are not `node`. */
  others(node: RabbitNode): RabbitNode[] {
    return this.nodes.filter((each) => each !== node);
  }

  /** Asks `via` (any running node) where `queue`'s replicas and leader are. */
  async placement(queue: string, via: RabbitNode): Promise<QueuePlacement> {
    const out = await via.ctl("list_queues", "name", "leader", "members", "online", "--formatter", "json");
    const rows = JSON.parse(out) as Array<{
      name: string;
      leader: string;
      members: string[];
      online: string[];
    }>;
    const row = rows.find((each) => each.name === queue);
    if (row === undefined) throw new Error(`queue ${queue} not found on ${via.node}`);
    return { leader: row.leader, members: row.members, online: row.online };
  }

  /** The running nodes of the cluster, as `via` sees them. */
  async running(via: RabbitNode): Promise<string[]> {
    const out = await via.ctl("cluster_status", "--formatter", "json");
    return (JSON.parse(out) as { running_nodes: string[] }).running_nodes;
  }

  /**
   * Waits until every node runs and `via` sees all of them (a stopped or killed node rejoined);
   * bounded by `timeoutMs`.
   */
  async waitAllRunning(via: RabbitNode, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let seen: string[] = [];
    while (Date.now() < end) {
      seen = await this.running(via).catch(() => []);
      if (this.nodes.every((node) => seen.includes(node.node))) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`not every node runs after ${timeoutMs} ms: ${seen.join(", ")}`);
  }

  /**
   * Makes every node also accept AMQP on `address` (an address of this machine, e.g. the bridge of
   * the network-namespace hosts, test/helpers/netns.ts), on the node's own port, and returns the
   * nodes' URLs there. The listener is added at run time (`rabbit_networking:start_tcp_listener`,
   * RabbitMQ 3.10), not in the node's config: the address exists only while the test that made it
   * runs, and a node restarted later boots without it. `stopListening(address)` removes it.
   */
  async listenOn(address: string): Promise<string[]> {
    for (const node of this.nodes) {
      const out = await node.eval(`rabbit_networking:start_tcp_listener({"${address}", ${node.port}}, 10).`);
      if (out.trim() !== "ok") throw new Error(`${node.node} did not listen on ${address}: ${out.trim()}`);
    }
    return this.nodes.map((node) => `amqp://guest:guest@${address}:${node.port}`);
  }

  /** Removes the listeners `listenOn(address)` added (a node that is down has none to remove). */
  async stopListening(address: string): Promise<void> {
    for (const node of this.nodes) {
      await node
        .eval(`rabbit_networking:stop_tcp_listener({"${address}", ${node.port}}).`)
        .catch(() => undefined);
    }
  }

  /** Deletes `queue` through `via` (the cluster tests clean up their queues). */
  async deleteQueue(queue: string, via: RabbitNode): Promise<void> {
    await via.ctl("delete_queue", queue).catch(() => {});
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()));
    // Nodes still registered with epmd would show here; the tests' own nodes are gone by now.
    await run("epmd", ["-names"]).catch(() => undefined);
  }
}
