import { Writable } from "node:stream";
import { type Logger, pino } from "pino";
import { App, type AppOptions } from "../../src/index.js";

/** A silent App listening on an ephemeral loopback port. */
export function newApp(options: AppOptions = {}): App {
  return new App({
    logger: pino({ level: "silent" }),
    shutdownTimeout: 2_000,
    ...options,
    http: { port: 0, ...options.http },
  });
}

/** Builds an app, lets `setup` add routes, starts it, and registers it for `closeAll`. */
export async function started(
  apps: App[],
  setup: (app: App) => void,
  options: AppOptions = {},
): Promise<App> {
  const app = newApp(options);
  apps.push(app);
  setup(app);
  await app.start();
  return app;
}

export async function stopAll(apps: App[]): Promise<void> {
  await Promise.all(apps.splice(0).map((app) => app.stop()));
}

/** The app's base URL; throws if it is not listening, so a test cannot silently hit nothing. */
export function urlOf(app: App): string {
  const url = app.http.url;
  if (url === undefined) throw new Error("the app is not listening");
  return url;
}

/** A pino logger whose JSON lines land in `lines`, to assert what weir logs. */
export function capturingLogger(level = "debug"): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}
