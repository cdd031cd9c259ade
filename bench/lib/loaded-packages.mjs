/**
 * Which npm packages a Node process has loaded: for `npm run bench:cold-start` and the lazy-loading
 * test (test/core/lazy-load.test.ts), which ask whether `import "weir"` pulled in amqplib, fastify
 * and the rest. Plain JavaScript, so a child `node` can import it with or without tsx.
 *
 * Two sources, because neither sees everything: CommonJS modules (amqplib, fastify, ioredis,
 * prom-client, @opentelemetry/api, whether imported from ESM or required) are in the CommonJS
 * loader's cache, and ES modules (jose, eventsource) are seen by a `load` hook registered with
 * `module.register`. The hook posts each file before the loader goes on, so by the time an `import`
 * has resolved its files are waiting on the port and `receiveMessageOnPort` reads them synchronously.
 */
import { createRequire, register } from "node:module";
import { MessageChannel, receiveMessageOnPort } from "node:worker_threads";

/** `@scope/name` or `name` of a file under node_modules (the innermost one), else undefined. */
export function packageOf(path) {
  const normalized = path.replaceAll("\\", "/");
  const at = normalized.lastIndexOf("/node_modules/");
  if (at === -1) return undefined;
  const [first, second] = normalized.slice(at + "/node_modules/".length).split("/");
  return first.startsWith("@") ? `${first}/${second}` : first;
}

/**
 * Starts watching; call it before importing what is measured. Returns a function that lists the
 * packages loaded so far, sorted.
 */
export function watchLoadedPackages() {
  const { port1, port2 } = new MessageChannel();
  register(new URL("./loaded-packages-hooks.mjs", import.meta.url), {
    data: { port: port2 },
    transferList: [port2],
  });
  port1.unref();
  const seen = new Set();
  const cache = createRequire(import.meta.url).cache;
  return () => {
    for (let message = receiveMessageOnPort(port1); message; message = receiveMessageOnPort(port1)) {
      seen.add(packageOf(new URL(message.message).pathname));
    }
    for (const path of Object.keys(cache)) seen.add(packageOf(path));
    seen.delete(undefined);
    return [...seen].sort();
  };
}
