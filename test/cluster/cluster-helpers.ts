import * as amqp from "amqplib";
import { inject } from "vitest";
import { RabbitTestCluster } from "../helpers/rabbit-cluster.js";
import type { RabbitNode } from "../helpers/rabbit-node.js";

/** The cluster the project's globalSetup started (test/cluster/global-setup.ts). */
export function sharedCluster(): RabbitTestCluster {
  return RabbitTestCluster.from(inject("rabbitCluster"));
}

/** Queue arguments of a quorum queue with a replica on each of the 3 nodes. */
export const QUORUM_3 = { "x-queue-type": "quorum", "x-quorum-initial-group-size": 3 } as const;

/** Declares durable quorum queues on 3 nodes through `via`. */
export async function declareQuorum(via: RabbitNode, ...queues: string[]): Promise<void> {
  const connection = await amqp.connect(via.url);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.assertQueue(queue, { durable: true, arguments: QUORUM_3 });
  } finally {
    await connection.close();
  }
}

/** Publishes `count` persistent messages (`messageId` `<prefix><i>`) with confirms through `via`. */
export async function fill(via: RabbitNode, queue: string, count: number, prefix = "m"): Promise<void> {
  const connection = await amqp.connect(via.url);
  try {
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < count; i++) {
      const body = Buffer.from(JSON.stringify({ i }));
      const ok = channel.sendToQueue(queue, body, {
        persistent: true,
        messageId: `${prefix}${i}`,
        contentType: "application/json",
      });
      if (!ok) await new Promise((resolve) => channel.once("drain", resolve));
    }
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** How many copies of each message a route handled, and how many of those were flagged redelivered. */
export class Tally {
  readonly copies = new Map<string, { copies: number; redelivered: number }>();
  /** Every handling time (ms epoch), in order. */
  readonly times: number[] = [];
  deliveries = 0;

  add(id: string, redelivered: boolean, at = Date.now()): void {
    const seen = this.copies.get(id) ?? { copies: 0, redelivered: 0 };
    seen.copies++;
    if (redelivered) seen.redelivered++;
    this.copies.set(id, seen);
    this.times.push(at);
    this.deliveries++;
  }

  get handled(): number {
    return this.copies.size;
  }

  /** Extra copies (beyond the first) of every message. */
  get duplicates(): number {
    return this.deliveries - this.copies.size;
  }

  /**
   * Extra copies that neither carry the redelivered flag nor come from a publish retried after an
   * unconfirmed publish (`republished`: the same messageId sent again, so maybe stored twice).
   */
  unexplained(republished: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const [id, seen] of this.copies) {
      if (seen.copies - 1 > seen.redelivered && !republished.has(id)) out.push(id);
    }
    return out;
  }

  /** The longest stretch without a handled message from `from` to the last one handled (ms). */
  longestGapSince(from: number): number {
    let last = from;
    let gap = 0;
    for (const at of this.times) {
      if (at < from) continue;
      gap = Math.max(gap, at - last);
      last = at;
    }
    return gap;
  }
}

/** Polls `predicate` every 50 ms until it holds or `timeoutMs` passes (then throws). */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await predicate()) return Date.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
