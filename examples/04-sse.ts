/**
 * An SSE consumer: reads a deployment feed from a Server-Sent Events endpoint, two events per call.
 *
 * Run it with `npx tsx examples/04-sse.ts` and stop it with Ctrl-C. It starts the bundled demo
 * server (examples/demo-sse-server.ts) on 127.0.0.1 first. That server wants a fresh bearer token
 * and drops the connection every 12 events: watch weir reconnect with `Last-Event-ID` and the ids
 * carry on without a gap or a duplicate. Set `WEIR_LOG_LEVEL=debug` to see the reconnect delays.
 */
import { App, RouteTypes, type SSEEvent } from "../src/index.js";
import { startDemoServer } from "./demo-sse-server.js";

type DeploymentEvent =
  | { plan: { id: string }; app: string }
  | { appId: string; taskId: string; taskStatus: string }
  | { id: string; app: string };

const app = new App({ name: "sse-example" });
const demo = await startDemoServer({ logger: app.logger.child({ component: "demo-server" }) });

/** Stand-in for an auth service: called before every (re)connection, so an expired token is never reused. */
async function fetchToken(): Promise<string> {
  return demo.issueToken();
}

app.route(
  ["/v2/events"],
  {
    type: RouteTypes.SSE,
    url: demo.url,
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

app.onShutdown(async () => {
  await demo.close();
});

await app.run();
