import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * The pid of the local broker's Erlang VM, if this machine runs it and /proc shows it. Every
 * `rabbitmqctl` call starts a short-lived beam.smp of its own, so the oldest one is the broker.
 */
export function findBeamPid(): number | undefined {
  return findOldestProcess("beam.smp");
}

/** The pid of the local nats-server, if this machine runs it and /proc shows it (the oldest one). */
export function findNATSServerPid(): number | undefined {
  return findOldestProcess("nats-server");
}

/** The oldest process whose command name (/proc/<pid>/comm) is `comm`. */
function findOldestProcess(comm: string): number | undefined {
  let best: { pid: number; startedAt: number } | undefined;
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== comm) continue;
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        // Field 22 (starttime), counted from the field after the command name's ")".
        const startedAt = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
        if (best === undefined || startedAt < best.startedAt) best = { pid: Number(entry), startedAt };
      } catch {
        // The process ended while we looked.
      }
    }
  } catch {
    // No /proc (not Linux).
  }
  return best?.pid;
}

/** Kernel clock ticks per second, the unit of /proc/<pid>/stat CPU times. */
export function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process in clock ticks, or undefined when /proc is not readable. */
export function readCpuTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces; the numeric fields start after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Read and write syscalls this process made so far (all threads), from /proc/self/io. */
export function readSyscalls(): { reads: number; writes: number } | undefined {
  try {
    const io = readFileSync("/proc/self/io", "utf8");
    const field = (name: string): number =>
      Number(new RegExp(`^${name}: (\\d+)`, "m").exec(io)?.[1] ?? Number.NaN);
    return { reads: field("syscr"), writes: field("syscw") };
  } catch {
    return undefined;
  }
}

/**
 * Busy CPU time of the whole machine in clock ticks (every state of the aggregate `cpu` line of
 * /proc/stat except idle and iowait), or undefined without /proc.
 */
export function readMachineBusyTicks(): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  } catch {
    return undefined;
  }
}

/**
 * Waits until the broker has been nearly idle (under `brokerCores` of a core) and the machine as a
 * whole under `machineCores`, for one `slice`, or until `maxMs` passed. A preload leaves the broker
 * writing to disk for a moment, and other processes (other test suites, every `rabbitmqctl` call
 * boots an Erlang VM) compete for the same two cores; a run that starts meanwhile measures them.
 */
export async function waitForQuiet(
  pid: number | undefined,
  ticksPerSecond: number,
  { brokerCores = 0.1, machineCores = 0.3, slice = 300, maxMs = 5000 } = {},
): Promise<void> {
  if (readCpuTicks(pid) === undefined || readMachineBusyTicks() === undefined) {
    await sleep(500);
    return;
  }
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    const broker = readCpuTicks(pid) ?? 0;
    const machine = readMachineBusyTicks() ?? 0;
    await sleep(slice);
    const seconds = slice / 1000;
    const brokerUsed = ((readCpuTicks(pid) ?? 0) - broker) / ticksPerSecond / seconds;
    const machineUsed = ((readMachineBusyTicks() ?? 0) - machine) / ticksPerSecond / seconds;
    if (brokerUsed <= brokerCores && machineUsed <= machineCores) return;
  }
}
