import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { App } from "../../src/index.js";
import { AMQP_URL } from "../helpers/amqp.js";

const run = promisify(execFile);

/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus' text format (enough of it for weir's metrics: no escaped quotes in values). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

export function urlOf(app: App): string {
  const url = app.http.url;
  if (url === undefined) throw new Error("the app is not listening");
  return url;
}

export async function scrape(
  app: App,
  path = "/metrics",
): Promise<{ text: string; samples: Sample[]; type: string }> {
  const response = await fetch(`${urlOf(app)}${path}`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${text}`);
  return { text, samples: parseMetrics(text), type: response.headers.get("content-type") ?? "" };
}

export async function ready(app: App): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${urlOf(app)}/ready`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run("rabbitmqctl", ["-q", ...args], { timeout: 60_000 });
}

/**
 * A broker user of the test's own, so that the test can refuse it access (and so hold its app's
 * reconnect off) without touching any connection but its own.
 */
export class BrokerUser {
  private constructor(
    readonly name: string,
    readonly password: string,
  ) {}

  static async create(name: string): Promise<BrokerUser> {
    const password = "weir-test-password";
    await rabbitmqctl("add_user", name, password);
    const user = new BrokerUser(name, password);
    await user.allow();
    return user;
  }

  url(): string {
    const url = new URL(AMQP_URL);
    url.username = encodeURIComponent(this.name);
    url.password = this.password;
    return url.toString();
  }

  allow(): Promise<void> {
    return rabbitmqctl("set_permissions", "-p", "/", this.name, ".*", ".*", ".*");
  }

  refuse(): Promise<void> {
    return rabbitmqctl("clear_permissions", "-p", "/", this.name);
  }

  delete(): Promise<void> {
    return rabbitmqctl("delete_user", this.name);
  }
}
