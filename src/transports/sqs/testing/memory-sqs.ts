import { randomUUID } from "node:crypto";
import { isFifo, queueNameOf, type SQSPort, type SQSReceived, type SQSSendOptions } from "../port.js";

interface StoredMessage {
  readonly id: string;
  readonly body: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly groupId: string | undefined;
  receiveCount: number;
  /** ms since the epoch; 0: visible. */
  visibleAt: number;
  receipt: string | undefined;
}

interface MemoryQueue {
  readonly name: string;
  readonly fifo: boolean;
  readonly visibilityMs: number;
  readonly messages: StoredMessage[];
}

/**
 * SQS in memory, for weir/testing: queues (created on first use, a queue URL is its name),
 * visibility timeouts, receive counts, long polling and FIFO group order (a group with a message in
 * flight hands out nothing more), with no server. Redrive policies and deduplication are not kept.
 */
export class MemorySQS implements SQSPort {
  private readonly queues = new Map<string, MemoryQueue>();
  private changed: Array<() => void> = [];

  /** The queue, created when missing. */
  queue(nameOrUrl: string): MemoryQueue {
    const name = queueNameOf(nameOrUrl);
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = { name, fifo: isFifo(name), visibilityMs: 30_000, messages: [] };
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** The bodies `queue` holds (visible or in flight), oldest first. */
  bodies(name: string): string[] {
    return this.queues.get(queueNameOf(name))?.messages.map((message) => message.body) ?? [];
  }

  /** Messages of `queue` received and not deleted or made visible again. */
  inFlight(name: string): number {
    const now = Date.now();
    return this.queues.get(queueNameOf(name))?.messages.filter((m) => m.visibleAt > now).length ?? 0;
  }

  async queueUrl(nameOrUrl: string): Promise<string> {
    return this.queue(nameOrUrl).name;
  }

  async createQueue(name: string): Promise<string> {
    return this.queue(name).name;
  }

  async receive(
    url: string,
    options: {
      max: number;
      waitSeconds: number;
      visibilitySeconds?: number | undefined;
      signal?: AbortSignal | undefined;
    },
  ): Promise<SQSReceived[]> {
    const queue = this.queue(url);
    const end = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      if (options.signal?.aborted) throw new Error("receive aborted");
      const taken = this.take(queue, options.max, options.visibilitySeconds);
      if (taken.length > 0) return taken;
      if (Date.now() >= end) {
        // An empty answer takes a round trip on SQS: never a loop of microtasks that starves timers.
        await new Promise((resolve) => setTimeout(resolve, 10));
        return taken;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(50, Math.max(1, end - Date.now())));
        function done(): void {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", done);
          resolve();
        }
        this.changed.push(done);
        options.signal?.addEventListener("abort", done);
      });
    }
  }

  private take(queue: MemoryQueue, max: number, visibilitySeconds: number | undefined): SQSReceived[] {
    const now = Date.now();
    const busy = new Set<string>();
    if (queue.fifo) for (const m of queue.messages) if (m.visibleAt > now && m.groupId) busy.add(m.groupId);
    const out: SQSReceived[] = [];
    for (const message of queue.messages) {
      if (out.length >= max) break;
      if (message.visibleAt > now) continue;
      if (message.groupId !== undefined && busy.has(message.groupId)) continue;
      message.receiveCount++;
      message.visibleAt =
        now + (visibilitySeconds === undefined ? queue.visibilityMs : visibilitySeconds * 1000);
      message.receipt = randomUUID();
      out.push({
        id: message.id,
        receipt: message.receipt,
        body: message.body,
        receiveCount: message.receiveCount,
        groupId: message.groupId,
        attributes: message.attributes,
      });
    }
    return out;
  }

  async delete(url: string, receipts: readonly string[]): Promise<string[]> {
    const queue = this.queue(url);
    const wanted = new Set(receipts);
    for (let i = queue.messages.length - 1; i >= 0; i--) {
      const receipt = queue.messages[i]!.receipt;
      if (receipt !== undefined && wanted.has(receipt)) queue.messages.splice(i, 1);
    }
    this.wake();
    return [];
  }

  async changeVisibility(
    url: string,
    entries: ReadonlyArray<{ receipt: string; seconds: number }>,
  ): Promise<void> {
    const queue = this.queue(url);
    const now = Date.now();
    for (const entry of entries) {
      const message = queue.messages.find((m) => m.receipt === entry.receipt);
      if (message !== undefined) message.visibleAt = entry.seconds === 0 ? 0 : now + entry.seconds * 1000;
    }
    this.wake();
  }

  async send(url: string, body: string, options: SQSSendOptions): Promise<string> {
    const queue = this.queue(url);
    const id = randomUUID();
    const delay = (options.delaySeconds ?? 0) * 1000;
    queue.messages.push({
      id,
      body,
      attributes: { ...options.attributes },
      groupId: options.groupId,
      receiveCount: 0,
      visibleAt: delay > 0 ? Date.now() + delay : 0,
      receipt: undefined,
    });
    this.wake();
    return id;
  }

  async attributes(url: string): Promise<Record<string, string>> {
    const queue = this.queue(url);
    const now = Date.now();
    const inFlight = queue.messages.filter((m) => m.visibleAt > now).length;
    return {
      VisibilityTimeout: String(queue.visibilityMs / 1000),
      ApproximateNumberOfMessages: String(queue.messages.length - inFlight),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
    };
  }

  async purge(url: string): Promise<void> {
    this.queue(url).messages.length = 0;
  }

  close(): void {
    this.wake();
  }

  private wake(): void {
    for (const done of this.changed.splice(0)) done();
  }
}
