import { execFile } from "node:child_process";
import { promisify } from "node:util";

/**
 * Hosts simulated as Linux network namespaces, for the cluster test with two hosts (issue #18,
 * test 4). Each host is a namespace `weir-h<i>-<pid>` with a veth pair whose outer end is enslaved
 * to a bridge `wbr-<pid>` in the root namespace; the bridge holds `10.231.<x>.1/24` (x picked so no
 * address or route of the machine is in that /24) and host i gets `10.231.<x>.<i + 1>`. Nothing is
 * routed outside the machine: the namespaces have no default route, they reach the bridge's address
 * only. Needs root (`ip netns add`); `destroy()` removes everything, and `cleanStaleNamespaces()`
 * removes what a killed test run (its pid gone) left behind.
 */

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run("ip", args, { timeout: 15_000 });
  return stdout;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const NAMESPACE = /^weir-h\d+-(\d+)$/;
const LINK = /^(?:wbr|wv\d+)-(\d+)$/;

/** Removes the namespaces, bridges and veths of test runs whose process is gone; returns their names. */
export async function cleanStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  const namespaces = (await ip("netns", "list")).split("\n").map((line) => line.split(" ")[0] ?? "");
  for (const name of namespaces) {
    const match = NAMESPACE.exec(name);
    if (match === null || alive(Number(match[1]))) continue;
    await ip("netns", "del", name).catch(() => undefined);
    removed.push(name);
  }
  const links = (await ip("-o", "link", "show"))
    .split("\n")
    .map((line) => line.split(":")[1]?.trim().split("@")[0] ?? "");
  for (const name of links) {
    const match = LINK.exec(name);
    if (match === null || alive(Number(match[1]))) continue;
    await ip("link", "del", name).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

export interface NamespaceHosts {
  /** The namespaces, one per host. */
  readonly names: readonly string[];
  /** The root namespace's address on the bridge: what the hosts connect to. */
  readonly bridgeAddress: string;
  /** Each host's address, in the order of `names`. */
  readonly hostAddresses: readonly string[];
  /** The command prefix that runs a program inside host `index` (`ip netns exec <name>`). */
  exec(index: number): string[];
  /** Deletes the namespaces (their veths go with them) and the bridge. Idempotent, never throws. */
  destroy(): Promise<void>;
}

/** A /24 of 10.231.0.0/16 that no address or route of the machine touches. */
async function freeSubnet(): Promise<string> {
  const used = `${await ip("-4", "-o", "addr", "show")}\n${await ip("-4", "route", "show", "table", "all")}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = `10.231.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(`${subnet}.`)) return subnet;
  }
  throw new Error("no free /24 in 10.231.0.0/16 for the test namespaces");
}

/** Creates `count` hosts (network namespaces) on a bridge of the root namespace. */
export async function createNamespaceHosts(count = 2): Promise<NamespaceHosts> {
  const pid = process.pid;
  const subnet = await freeSubnet();
  const bridge = `wbr-${pid}`;
  const names = Array.from({ length: count }, (_, i) => `weir-h${i + 1}-${pid}`);
  const hostAddresses = names.map((_, i) => `${subnet}.${i + 2}`);
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const name of names) await ip("netns", "del", name).catch(() => undefined);
    for (let i = 0; i < count; i++) await ip("link", "del", `wv${i + 1}-${pid}`).catch(() => undefined);
    await ip("link", "del", bridge).catch(() => undefined);
  };
  try {
    await ip("link", "add", bridge, "type", "bridge");
    await ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    await ip("link", "set", bridge, "up");
    for (const [i, name] of names.entries()) {
      const outer = `wv${i + 1}-${pid}`;
      const inner = `wn${i + 1}-${pid}`;
      await ip("netns", "add", name);
      await ip("link", "add", outer, "type", "veth", "peer", "name", inner);
      await ip("link", "set", outer, "master", bridge);
      await ip("link", "set", outer, "up");
      await ip("link", "set", inner, "netns", name);
      await ip("-n", name, "addr", "add", `${hostAddresses[i]}/24`, "dev", inner);
      await ip("-n", name, "link", "set", inner, "up");
      await ip("-n", name, "link", "set", "lo", "up");
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    names,
    bridgeAddress: `${subnet}.1`,
    hostAddresses,
    exec: (index) => ["ip", "netns", "exec", names[index]!],
    destroy,
  };
}
