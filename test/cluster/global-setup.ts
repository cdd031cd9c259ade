import type { TestProject } from "vitest/node";
import { RabbitTestCluster } from "../helpers/rabbit-cluster.js";
import type { RabbitNodeInfo } from "../helpers/rabbit-node.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The nodes of the 3-node cluster the `cluster` project's files share (issue #18). */
    rabbitCluster: RabbitNodeInfo[];
  }
}

/**
 * Starts one 3-node RabbitMQ cluster of extra nodes for every file of the `cluster` project (the
 * files run one at a time: they stop and kill its nodes) and tears it down after the last one.
 * The node on 5672 is not involved.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const cluster = await RabbitTestCluster.start(3);
  project.provide("rabbitCluster", cluster.describe());
  process.stdout.write(
    `[cluster] 3 nodes up and joined in ${Date.now() - started} ms: ${cluster.nodes
      .map((node) => `${node.node} on ${node.port}`)
      .join(", ")}\n`,
  );
  return () => cluster.destroy();
}
