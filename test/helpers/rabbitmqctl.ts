import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run("rabbitmqctl", ["-q", ...args], { timeout: 60_000 });
  return stdout;
}

type ClientProperty = [string, string, unknown];

/**
 * A connection's client properties as a list. With test files running in parallel, a listing
 * once held a connection whose `client_properties` was not a list (one still opening, with no
 * properties yet): it has no `connection_name` to match.
 */
function clientProperties(row: { client_properties: unknown }): ClientProperty[] {
  return Array.isArray(row.client_properties) ? (row.client_properties as ClientProperty[]) : [];
}

/** The names (peer addresses) of the connections whose `connection_name` starts with `prefix`. */
async function connectionNames(prefix: string): Promise<Set<string>> {
  const out = await rabbitmqctl("list_connections", "name", "client_properties", "--formatter", "json");
  const rows = JSON.parse(out || "[]") as { name: string; client_properties: ClientProperty[] }[];
  return new Set(
    rows
      .filter((row) =>
        clientProperties(row).some(
          ([key, , value]) => key === "connection_name" && String(value).startsWith(prefix),
        ),
      )
      .map((row) => row.name),
  );
}

/** The `connection_name`s of the broker's connections that start with `weir:<app>:`, sorted. */
export async function appConnectionNames(app: string): Promise<string[]> {
  const out = await rabbitmqctl("list_connections", "client_properties", "--formatter", "json");
  const rows = JSON.parse(out || "[]") as { client_properties: ClientProperty[] }[];
  return rows
    .flatMap((row) => clientProperties(row).filter(([key]) => key === "connection_name"))
    .map(([, , value]) => String(value))
    .filter((name) => name.startsWith(`weir:${app}:`))
    .sort();
}

/**
 * Erlang pids of the connections whose `connection_name` starts with `prefix`. The JSON formatter
 * prints pids in a form close_connection does not accept, so pids come from the plain listing,
 * matched by the connection's peer-address name.
 */
export async function connectionPids(prefix: string): Promise<string[]> {
  const names = await connectionNames(prefix);
  const out = await rabbitmqctl("list_connections", "--no-table-headers", "pid", "name");
  return out
    .split("\n")
    .map((line) => line.split("\t"))
    .filter(([pid, name]) => pid !== undefined && name !== undefined && names.has(name.trim()))
    .map(([pid]) => (pid as string).trim());
}

/**
 * Closes, from the broker side (`connection.close`), every connection named with `prefix` — only
 * the worker under test, never the connections of tests running beside it. Returns how many.
 */
export async function closeConnections(prefix: string, reason = "weir fault test"): Promise<number> {
  const pids = await connectionPids(prefix);
  for (const pid of pids) await rabbitmqctl("close_connection", pid, reason);
  return pids.length;
}

/**
 * The consumers of `queue` as the broker lists them (`rabbitmqctl list_consumers`): `active` is
 * false for a consumer waiting behind a single active consumer.
 */
export async function queueConsumers(queue: string): Promise<{ tag: string; active: boolean }[]> {
  const out = await rabbitmqctl(
    "list_consumers",
    "queue_name",
    "consumer_tag",
    "active",
    "--formatter",
    "json",
  );
  const rows = JSON.parse(out || "[]") as { queue_name: string; consumer_tag: string; active: boolean }[];
  return rows
    .filter((row) => row.queue_name === queue)
    .map((row) => ({ tag: row.consumer_tag, active: row.active }));
}

/** The heartbeat (s) the broker negotiated for the connections named with `prefix`. */
export async function connectionTimeouts(prefix: string): Promise<number[]> {
  const out = await rabbitmqctl("list_connections", "timeout", "client_properties", "--formatter", "json");
  const rows = JSON.parse(out || "[]") as { timeout: number; client_properties: ClientProperty[] }[];
  return rows
    .filter((row) =>
      clientProperties(row).some(
        ([key, , value]) => key === "connection_name" && String(value).startsWith(prefix),
      ),
    )
    .map((row) => row.timeout);
}

/**
 * A user and a vhost of the test's own on the shared node (unique names, removed by `remove()`), for
 * the access-refusal tests. The user starts with no permission anywhere.
 */
export class TestAccess {
  private constructor(
    readonly user: string,
    readonly password: string,
    readonly vhost: string,
  ) {}

  static async create(suffix: string): Promise<TestAccess> {
    const access = new TestAccess(`weir-test-user-${suffix}`, `pw-${suffix}`, `weir-test-vhost-${suffix}`);
    await rabbitmqctl("add_vhost", access.vhost);
    await rabbitmqctl("add_user", access.user, access.password);
    return access;
  }

  /** Full configure/write/read permissions on the test's vhost. */
  async allow(): Promise<void> {
    await rabbitmqctl("set_permissions", "-p", this.vhost, this.user, ".*", ".*", ".*");
  }

  async deny(): Promise<void> {
    await rabbitmqctl("clear_permissions", "-p", this.vhost, this.user);
  }

  async changePassword(password: string): Promise<void> {
    await rabbitmqctl("change_password", this.user, password);
  }

  async remove(): Promise<void> {
    await rabbitmqctl("delete_user", this.user).catch(() => {});
    await rabbitmqctl("delete_vhost", this.vhost).catch(() => {});
  }
}

/** A vhost of the test's own (unique name) on which the broker URL's user may do everything. */
export async function createVhost(name: string, user = "guest"): Promise<void> {
  await rabbitmqctl("add_vhost", name);
  await rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*");
}

export async function deleteVhost(name: string): Promise<void> {
  await rabbitmqctl("delete_vhost", name).catch(() => {});
}

/** The names of the queues of `vhost` that start with `prefix`, sorted, as the broker lists them. */
export async function queueNames(prefix: string, vhost = "/"): Promise<string[]> {
  const out = await rabbitmqctl("list_queues", "-p", vhost, "name", "--formatter", "json");
  const rows = JSON.parse(out || "[]") as { name: string }[];
  return rows
    .map((row) => row.name)
    .filter((name) => name.startsWith(prefix))
    .sort();
}

/** Messages `queue` holds, ready and unacknowledged together (`list_queues messages`); 0 when it is gone. */
export async function queueMessages(queue: string, vhost = "/"): Promise<number> {
  const out = await rabbitmqctl("list_queues", "-p", vhost, "name", "messages", "--formatter", "json");
  const rows = JSON.parse(out || "[]") as { name: string; messages: number }[];
  return rows.find((row) => row.name === queue)?.messages ?? 0;
}
