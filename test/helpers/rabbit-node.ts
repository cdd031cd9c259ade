import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * Extra RabbitMQ nodes for the tests that must change a broker's settings (alarms, timeouts), stop
 * a node or form a cluster: the node on 5672 serves the rest of the suite and is never touched.
 *
 * The recipe is ../shared/rabbitmq-cluster.md: the Debian wrapper `rabbitmq-server` drops the
 * environment (it `su`s to the rabbitmq user) and /etc/rabbitmq pins the listener and the node name,
 * so each node gets its own config and env files and starts through the inner script, as the
 * rabbitmq user, with its data in a temporary folder. Every address stays on 127.0.0.1.
 */

const run = promisify(execFile);

/** How long a node may take to boot (it usually takes 3–8 s on this machine). */
const BOOT_TIMEOUT_MS = 90_000;

export interface RabbitNode {
  /** The Erlang node name, `<short>@localhost`. */
  readonly node: string;
  /** The AMQP port on 127.0.0.1. */
  readonly port: number;
  /** `amqp://guest:guest@127.0.0.1:<port>` (guest may connect: `loopback_users = none`). */
  readonly url: string;
  /** The node's data, logs and config. */
  readonly dir: string;
  /** Runs `rabbitmqctl -q -n <node> ...args`; resolves with its stdout. */
  ctl(...args: string[]): Promise<string>;
  /** Runs an Erlang expression on the node (`rabbitmqctl eval`). */
  eval(expression: string): Promise<string>;
  /** The OS pid of the node's Erlang VM (beam.smp). */
  pid(): number;
  /** `stop_app`: the node stays up, RabbitMQ stops, every connection drops. */
  stopApp(): Promise<void>;
  /** `start_app`, then waits until the node accepts connections again. */
  startApp(): Promise<void>;
  /** SIGKILL of the node's VM: a hard crash. */
  kill(): void;
  /** Starts a killed node again, on the same port and data. */
  restart(): Promise<void>;
  /** Kills the node (if it runs) and removes its folder. Idempotent. */
  destroy(): Promise<void>;
}

export interface StartNodeOptions {
  /** Extra `rabbitmq.conf` lines (e.g. `consumer_timeout = 5000`). */
  config?: readonly string[];
}

let counter = 0;

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port in 5700–5999 whose distribution port (+20000) is free too. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 5700 + Math.floor(Math.random() * 300);
    if ((await isFree(port)) && (await isFree(port + 20_000))) return port;
  }
  throw new Error("no free port pair for an extra RabbitMQ node");
}

async function rabbitmqctl(node: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run("rabbitmqctl", ["-q", "-n", node, ...args], { timeout: timeoutMs });
  return stdout;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `await_startup` (which fails at once while the node is not registered with epmd yet). */
async function awaitStartup(node: string, dir: string): Promise<void> {
  const end = Date.now() + BOOT_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await rabbitmqctl(node, ["await_startup", "--timeout", "10"], 15_000);
      return;
    } catch (error) {
      last = error;
      await sleep(500);
    }
  }
  throw new Error(
    `RabbitMQ node ${node} did not start within ${BOOT_TIMEOUT_MS} ms; see ${dir}/log (${String(last)})`,
  );
}

function launch(short: string, port: number, dir: string): Promise<unknown> {
  const env = [
    `RABBITMQ_CONF_ENV_FILE=${dir}/rabbitmq-env.conf`,
    `RABBITMQ_CONFIG_FILE=${dir}/rabbitmq.conf`,
    `RABBITMQ_ENABLED_PLUGINS_FILE=${dir}/enabled_plugins`,
    `RABBITMQ_NODENAME=${short}@localhost`,
    `RABBITMQ_NODE_PORT=${port}`,
    `RABBITMQ_DIST_PORT=${port + 20_000}`,
    `RABBITMQ_MNESIA_BASE=${dir}/mnesia`,
    `RABBITMQ_LOG_BASE=${dir}/log`,
    `RABBITMQ_PID_FILE=${dir}/pid`,
    `ERL_FLAGS='-kernel inet_dist_use_interface {127,0,0,1}'`,
  ].join(" ");
  const script = `cd /var/lib/rabbitmq && ${env} /usr/lib/rabbitmq/bin/rabbitmq-server -detached`;
  return run("su", ["rabbitmq", "-s", "/bin/sh", "-c", script], { timeout: 30_000 });
}

/** Starts one extra node on a free port; `destroy()` it in an `afterAll`. */
export async function startRabbitNode(options: StartNodeOptions = {}): Promise<RabbitNode> {
  const port = await freePort();
  const short = `weirt${process.pid}n${++counter}`;
  const node = `${short}@localhost`;
  const dir = join(tmpdir(), `weir-rabbit-${short}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const config = [
    `listeners.tcp.local = 127.0.0.1:${port}`,
    "loopback_users = none",
    ...(options.config ?? []),
  ];
  writeFileSync(join(dir, "rabbitmq.conf"), `${config.join("\n")}\n`);
  writeFileSync(join(dir, "rabbitmq-env.conf"), "ERL_EPMD_ADDRESS=127.0.0.1\n");
  writeFileSync(join(dir, "enabled_plugins"), "[].\n");
  await run("chown", ["-R", "rabbitmq:rabbitmq", dir]);
  await launch(short, port, dir);
  await awaitStartup(node, dir);

  return rabbitNode({ short, port, dir });
}

/** What identifies a running extra node: enough to control it from another process (the cluster tests' globalSetup). */
export interface RabbitNodeInfo {
  readonly short: string;
  readonly port: number;
  readonly dir: string;
}

/** A handle on a node started by `startRabbitNode` (in this process or another). */
export function rabbitNode({
  short,
  port,
  dir,
}: RabbitNodeInfo): RabbitNode & { readonly info: RabbitNodeInfo } {
  const node = `${short}@localhost`;
  let destroyed = false;
  const pid = (): number => Number.parseInt(readFileSync(join(dir, "pid"), "utf8").trim(), 10);
  const kill = (): void => {
    try {
      process.kill(pid(), "SIGKILL");
    } catch {
      // Not running (already killed, or never wrote its pid).
    }
  };
  return {
    info: { short, port, dir },
    node,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    dir,
    ctl: (...args) => rabbitmqctl(node, args),
    eval: (expression) => rabbitmqctl(node, ["eval", expression]),
    pid,
    stopApp: async () => {
      await rabbitmqctl(node, ["stop_app"]);
    },
    startApp: async () => {
      await rabbitmqctl(node, ["start_app"]);
      await awaitStartup(node, dir);
    },
    kill,
    restart: async () => {
      await launch(short, port, dir);
      await awaitStartup(node, dir);
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      kill();
      // The VM takes a moment to release its ports and epmd registration.
      await sleep(200);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A cluster of extra nodes; the first is the seed the others join. */
export interface RabbitCluster {
  readonly nodes: readonly RabbitNode[];
  /** Every node's URL, in order. */
  readonly urls: readonly string[];
  destroy(): Promise<void>;
}

/**
 * Starts `size` extra nodes and joins them into a cluster of their own (about 15–25 s for three on
 * this machine). `destroy()` it in an `afterAll`.
 */
export async function startRabbitCluster(size = 3, options: StartNodeOptions = {}): Promise<RabbitCluster> {
  const nodes = await Promise.all(Array.from({ length: size }, () => startRabbitNode(options)));
  const destroy = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.destroy()));
  };
  try {
    const seed = nodes[0]!;
    for (const node of nodes.slice(1)) {
      await node.ctl("stop_app");
      await node.ctl("join_cluster", seed.node);
      await node.startApp();
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return { nodes, urls: nodes.map((node) => node.url), destroy };
}
