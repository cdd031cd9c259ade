/**
 * A periodic task: a heartbeat logged every second, with no route and so no broker.
 *
 * Run it with `npx tsx examples/05-run-every.ts` (or `weir run`) and stop it with Ctrl-C: the tick timer keeps the
 * process alive until then, and a heartbeat in progress at Ctrl-C finishes before the app stops.
 * HEARTBEAT_MS changes the interval (the test suite runs this file with a short one).
 *
 * In a worker the same call sits next to the routes, e.g. to refresh a cache or report queue depths
 * every minute; `maxConcurrency` (default 1) says how many runs of a slow task may overlap.
 */
import { App, isMainModule } from "../src/index.js";

interface State {
  beats: number;
  startedAt: number;
}

export const app = new App<State>({ name: "run-every-example", shutdownTimeout: 5_000 });
const intervalMs = Number(process.env.HEARTBEAT_MS ?? 1_000);

app.onStartup((app) => {
  app.state.beats = 0;
  app.state.startedAt = Date.now();
});

// A named function: its name ("heartbeat") is bound to the task's log lines, errors included.
app.runEvery(intervalMs, async function heartbeat(app) {
  app.state.beats += 1;
  app.logger.info({ beat: app.state.beats, uptimeMs: Date.now() - app.state.startedAt }, "heartbeat");
});

app.onShutdown((app) => {
  app.logger.info({ beats: app.state.beats }, "last heartbeat sent");
});

if (isMainModule(import.meta.url)) await app.run();
