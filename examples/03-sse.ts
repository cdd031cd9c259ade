/**
 * An SSE consumer: reads a deployment feed from a Server-Sent Events endpoint, two events per call.
 *
 * Run it with `npx tsx examples/03-sse.ts` (or `weir run examples/03-sse.ts`) and stop it with
 * Ctrl-C. A startup hook starts the bundled demo server (examples/demo-sse-server.ts) on
 * 127.0.0.1:9000 (DEMO_SSE_PORT) first. That server wants a fresh bearer token and drops the
 * connection every 12 events: watch weir reconnect with `Last-Event-ID` and the ids carry on without
 * a gap or a duplicate. Set `WEIR_LOG_LEVEL=debug` to see the reconnect delays.
 */
import { App, isMainModule, RouteTypes, type SSEEvent } from "../src/index.js";
import { type DemoServer, startDemoServer } from "./demo-sse-server.js";

type DeploymentEvent =
  | { plan: { id: string }; app: string }
  | { appId: string; taskId: string; taskStatus: string }
  | { id: string; app: string };

/** What the app keeps while it runs: typed, so `app.state.demo` is a `DemoServer` in every hook. */
interface State {
  demo: DemoServer;
}

const DEMO_PORT = Number(process.env.DEMO_SSE_PORT ?? 9000);

export const app = new App<State>({ name: "sse-example" });

// In a hook, not at import: importing the module (weir routes, a test) must not open a port.
app.onStartup(async (app) => {
  app.state.demo = await startDemoServer({
    port: DEMO_PORT,
    logger: app.logger.child({ component: "demo-server" }),
  });
});

/** Stand-in for an auth service: called before every (re)connection, so an expired token is never reused. */
async function fetchToken(): Promise<string> {
  return app.state.demo.issueToken();
}

app.route(
  ["/v2/events"],
  {
    type: RouteTypes.SSE,
    url: `http://127.0.0.1:${DEMO_PORT}`,
    headers: async () => ({ Authorization: `Bearer ${await fetchToken()}` }),
    reconnect: { floor: 200, ceiling: 5000 },
    idleTimeout: 15_000,
    options: { bulkSize: 2, bulkFlushInterval: 2000, retry: { maxAttempts: 3, backoff: 500 } },
  },
  async (events: SSEEvent<DeploymentEvent>[]) => {
    for (const event of events) {
      const body = event.body;
      let summary: string;
      if ("plan" in body) summary = `plan ${body.plan.id} for ${body.app}`;
      else if ("taskStatus" in body) summary = `app=${body.appId}, task=${body.taskId} (${body.taskStatus})`;
      else summary = `${body.id} for ${body.app}`;
      app.logger.info({ id: event.id, event: event.name, bulk: events.length }, summary);
    }
  },
);

app.onShutdown(async (app) => {
  await app.state.demo?.close(); // unset when the startup hook failed (port 9000 in use, say)
});

if (isMainModule(import.meta.url)) await app.run();
