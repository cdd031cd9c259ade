/**
 * Module hooks for loaded-packages.mjs (they run on the loader's own thread): every module file the
 * ESM loader loads from a node_modules folder is posted to the main thread.
 */
let port;

export function initialize(data) {
  port = data.port;
}

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (url.includes("/node_modules/")) port.postMessage(url);
  return result;
}
