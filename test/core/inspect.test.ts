import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { appTransports } from "../../src/core/application.js";
import { beginInspection, currentInspection, endInspection } from "../../src/core/inspect.js";
import { App, isMainModule, RouteTypes } from "../../src/index.js";
import { silentLogger, uniqueName } from "../helpers/amqp.js";

const REFUSED = { code: "WEIR_ERR_INSPECT_ONLY" };

function eagerApp(): App {
  return new App({ logger: silentLogger, amqp: { url: "amqp://guest:guest@127.0.0.1:5672" } });
}

// What `weir routes` / `weir asyncapi` rely on (issue 13, point 8): an app only read must not act.
describe("inspect-only mode", () => {
  afterEach(() => endInspection());

  it("records every App constructed while it is on, and only then", () => {
    const before = eagerApp();
    const inspection = beginInspection();
    const during = eagerApp();
    expect(inspection.apps).toEqual([during]);
    expect(inspection.apps).not.toContain(before);
    endInspection();
    expect(currentInspection()).toBeUndefined();
  });

  it("refuses start() and run() before any hook runs or any signal handler is installed", async () => {
    beginInspection();
    const app = eagerApp();
    let hookRan = false;
    app.onStartup(() => {
      hookRan = true;
    });
    app.route([uniqueName("inspect")], { type: RouteTypes.AMQP, declare: true }, async () => {});
    const listeners = process.listenerCount("SIGTERM");
    await expect(app.start()).rejects.toMatchObject(REFUSED);
    await expect(app.run()).rejects.toMatchObject(REFUSED);
    expect(process.listenerCount("SIGTERM")).toBe(listeners);
    expect(hookRan).toBe(false);
    expect(app.status).toBe("created");
    expect(currentInspection()?.refused).toEqual(["app.start()", "app.run()"]);
  });

  it("fails a lazy publish and a task's delay at once instead of waiting for a connection", async () => {
    beginInspection();
    const app = eagerApp();
    const task = app.task(uniqueName("inspect-task"), async () => {});
    const started = Date.now();
    await expect(app.amqp.publish({ n: 1 }, { routingKey: "anywhere" })).rejects.toMatchObject(REFUSED);
    await expect(task.delay({ n: 1 })).rejects.toMatchObject(REFUSED);
    await expect(task.delay({ n: 1 }, { delay: 5_000 })).rejects.toMatchObject(REFUSED);
    await expect(app.amqp.listDeadLetters("anywhere")).rejects.toMatchObject(REFUSED);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(currentInspection()?.refused.every((what) => what.startsWith("an AMQP connection"))).toBe(true);
  });

  it("refuses an HTTP listen, in the server itself and not only through start()", async () => {
    beginInspection();
    const app = eagerApp();
    app.http.get("/x", async () => "x");
    await expect(app[appTransports].get("http")!.start()).rejects.toMatchObject(REFUSED);
    expect(currentInspection()?.refused).toEqual([expect.stringMatching(/^an HTTP listen on /)]);
  });
});

describe("isMainModule", () => {
  it("is false for a module that was imported (here: by vitest)", () => {
    expect(isMainModule(import.meta.url)).toBe(false);
    expect(isMainModule("https://example.test/x.js")).toBe(false);
  });

  it("is true for the entry point", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-main-"));
    const file = join(dir, "entry.ts");
    writeFileSync(
      file,
      `import { isMainModule } from ${JSON.stringify(pathToFileURL("src/index.ts").href)};
process.stdout.write(String(isMainModule(import.meta.url)));`,
    );
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", file], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.on("error", reject);
      child.on("exit", () => resolve(out));
    });
    expect(output).toBe("true");
  });
});
