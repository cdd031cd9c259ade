import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Channel, Message } from "amqplib";
import { readCpuTicks, readMachineBusyTicks, readSyscalls } from "../lib/proc.js";
import { DISTURBED_EXIT_CODE, RESULT_MARK, type RunResult, type RunSpec } from "../lib/spec.js";

/**
 * The measurement window of one run, taken the same way on both sides: it opens at the first
 * delivery (or first publish) and closes at the ack of the last delivery (or the last confirm).
 * Each mark reads the clocks in the order that keeps the reads themselves outside the window.
 */
export class Probe {
  /** `basic.ack` frames the consumer sent (a `multiple` ack counts once). */
  ackFrames = 0;
  private startedAt = 0;
  private endedAt = 0;
  private monotonicStart = 0n;
  private monotonicEnd = 0n;
  private cpuStart: NodeJS.CpuUsage | undefined;
  private cpuEnd: NodeJS.CpuUsage | undefined;
  private brokerStart: number | undefined;
  private brokerEnd: number | undefined;
  private machineStart: number | undefined;
  private machineEnd: number | undefined;
  private syscallsStart: { reads: number; writes: number } | undefined;
  private syscallsEnd: { reads: number; writes: number } | undefined;
  private resolveEnded: () => void = () => {};
  /** Resolves when the window closes. */
  readonly ended = new Promise<void>((resolve) => {
    this.resolveEnded = resolve;
  });

  constructor(private readonly spec: RunSpec) {}

  get started(): boolean {
    return this.startedAt !== 0;
  }

  get done(): boolean {
    return this.endedAt !== 0;
  }

  start(): void {
    if (this.startedAt !== 0) return;
    this.syscallsStart = readSyscalls();
    this.machineStart = readMachineBusyTicks();
    this.brokerStart = readCpuTicks(this.spec.beamPid);
    this.cpuStart = process.cpuUsage();
    this.startedAt = performance.now();
    this.monotonicStart = process.hrtime.bigint();
  }

  end(): void {
    if (this.endedAt !== 0) return;
    this.monotonicEnd = process.hrtime.bigint();
    this.endedAt = performance.now();
    this.cpuEnd = process.cpuUsage(this.cpuStart);
    this.brokerEnd = readCpuTicks(this.spec.beamPid);
    this.machineEnd = readMachineBusyTicks();
    this.syscallsEnd = readSyscalls();
    this.resolveEnded();
  }

  result(count: number, sum: number): RunResult {
    const elapsedMs = this.endedAt - this.startedAt;
    const cpuUs = this.cpuEnd ? this.cpuEnd.user + this.cpuEnd.system : Number.NaN;
    const broker =
      this.brokerStart !== undefined && this.brokerEnd !== undefined
        ? ((this.brokerEnd - this.brokerStart) * 1e6) / this.spec.clockTicks
        : undefined;
    // What the rest of the machine burnt meanwhile (other test suites, rabbitmqctl calls...), in
    // cores: on 2 cores, anything much above zero takes CPU from the broker or the client.
    const otherCores =
      broker !== undefined && this.machineStart !== undefined && this.machineEnd !== undefined
        ? ((this.machineEnd - this.machineStart) / this.spec.clockTicks - broker / 1e6 - cpuUs / 1e6) /
          (elapsedMs / 1000)
        : null;
    const syscalls = (pick: (sample: { reads: number; writes: number }) => number): number | null =>
      this.syscallsStart && this.syscallsEnd
        ? (1000 * (pick(this.syscallsEnd) - pick(this.syscallsStart))) / count
        : null;
    return {
      side: this.spec.side,
      count,
      sum,
      elapsedMs,
      msgPerSec: count / (elapsedMs / 1000),
      cpuUsPerMsg: cpuUs / count,
      brokerUsPerMsg: broker === undefined ? null : broker / count,
      // maxRSS is in kilobytes.
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      startRssMb,
      windowUs: [Number(this.monotonicStart / 1000n), Number(this.monotonicEnd / 1000n)],
      pid: process.pid,
      ackFrames: this.ackFrames,
      otherCores,
      cpuUserUsPerMsg: (this.cpuEnd?.user ?? Number.NaN) / count,
      readsPerK: syscalls((s) => s.reads),
      writesPerK: syscalls((s) => s.writes),
    };
  }
}

interface ChannelModelClass {
  prototype: { createChannel(...args: unknown[]): Promise<Channel> };
}

/**
 * Opens the probe's window on the first delivery of every consuming channel and closes it on the
 * ack that covers delivery tag `lastTag`. It patches amqplib (not weir), the same way in both
 * runners, so both sides pay the same instrumentation cost: one tag comparison per ack call.
 * Delivery tags run 1..n on a fresh channel, so tag n is the last delivery of a run.
 */
export function instrumentConsumers(probe: Probe, lastTag: number): void {
  const require = createRequire(import.meta.url);
  // amqplib's export map hides lib/, but the file is the same module instance weir loads.
  const modelPath = join(dirname(require.resolve("amqplib")), "lib", "channel_model.js");
  const { ChannelModel } = require(modelPath) as { ChannelModel: ChannelModelClass };
  const createChannel = ChannelModel.prototype.createChannel;
  ChannelModel.prototype.createChannel = async function (this: unknown, ...args: unknown[]) {
    const channel = await createChannel.apply(this, args);
    // Prepended, so the window opens before the consumer's own callback runs.
    channel.prependOnceListener("delivery", () => probe.start());
    // A channel lost mid-run (someone else's test closing connections, a broker restart) would
    // make weir re-consume on a new channel and restart the tags: the run is void, say so now.
    channel.on("close", () => {
      if (!probe.done) disturbed("the consuming channel closed during the run");
    });
    const ack = channel.ack;
    channel.ack = function (this: Channel, message: Message, allUpTo?: boolean) {
      ack.call(this, message, allUpTo);
      probe.ackFrames++;
      if (message.fields.deliveryTag === lastTag) probe.end();
    };
    return channel;
  };
}

/** Prints the result line the orchestrator parses. */
export function report(result: RunResult): void {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
}

function disturbed(reason: string): never {
  process.stderr.write(`bench runner: ${reason}\n`);
  process.exit(DISTURBED_EXIT_CODE);
}

/**
 * Fails the run (non-zero exit) when it stops making progress: no first message within a minute
 * of the start, or no new message for 20 s after that (a lost message, a stuck ack).
 */
export function watchdog(probe: Probe, progress: () => number): void {
  let last = -1;
  let idleSince = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const seen = progress();
    if (seen !== last) {
      last = seen;
      idleSince = now;
      return;
    }
    const limit = probe.started ? 20_000 : 60_000;
    if (now - idleSince < limit) return;
    process.stderr.write(`bench runner: no progress for ${limit} ms (${seen} messages seen)\n`);
    process.exit(3);
  }, 1000);
  timer.unref();
}

/** RSS once every module is loaded, before any connection: what the runner costs doing nothing. */
let startRssMb = Number.NaN;

/**
 * Resolves when the orchestrator writes a line to stdin. Runners load every module first and then
 * wait here, so neither side's start-up time decides how settled the broker is when the run begins.
 */
export function waitForGo(): Promise<void> {
  startRssMb = process.memoryUsage().rss / 2 ** 20;
  return new Promise((resolve) => {
    let go = false;
    process.stdin.once("data", () => {
      go = true;
      resolve();
    });
    // The orchestrator is gone (its stdin pipe closed without a "go"): nothing to run for.
    process.stdin.once("end", () => {
      if (!go) process.exit(5);
    });
  });
}

export function parseSpec(): RunSpec {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error("usage: runner <spec JSON>");
  return JSON.parse(arg) as RunSpec;
}
