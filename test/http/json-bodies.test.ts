import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { type App, RouteTypes } from "../../src/index.js";
import { started, stopAll, urlOf } from "./helpers.js";

/**
 * Issue #14, kinds 1 and 2, on HTTP routes: the same media types and encodings as AMQP bodies,
 * through the same decoder. fastify alone answered application/cloudevents+json with 415, read a
 * latin-1 body as UTF-8 and a gzip body as invalid JSON.
 */
describe("HTTP JSON bodies: media types and encodings (issue #14)", () => {
  const apps: App[] = [];
  afterEach(() => stopAll(apps));

  async function post(
    headers: Record<string, string>,
    body: string | Buffer,
  ): Promise<{ status: number; json: unknown }> {
    const app = await started(apps, (created) => {
      created.route(["/in"], { type: RouteTypes.HTTP, methods: ["POST"] }, async (request) => ({
        got: request.body,
      }));
    });
    const response = await fetch(`${urlOf(app)}/in`, { method: "POST", headers, body });
    return { status: response.status, json: await response.json() };
  }

  it("structured +json types count as JSON, in any case", async () => {
    expect(await post({ "content-type": "application/cloudevents+json" }, '{"a":1}')).toEqual({
      status: 200,
      json: { got: { a: 1 } },
    });
    expect(await post({ "content-type": "Application/Problem+JSON; charset=UTF-8" }, '{"a":2}')).toEqual({
      status: 200,
      json: { got: { a: 2 } },
    });
  });

  it("bodies with a charset or a content-encoding: latin1, a BOM, gzip", async () => {
    const latin1 = Buffer.from('{"name":"Zoë"}', "latin1");
    expect((await post({ "content-type": "application/json; charset=ISO-8859-1" }, latin1)).json).toEqual({
      got: { name: "Zoë" },
    });
    expect((await post({ "content-type": "application/json" }, '\ufeff{"a":3}')).json).toEqual({
      got: { a: 3 },
    });
    const zipped = gzipSync('{"a":4}');
    expect(await post({ "content-type": "application/json", "content-encoding": "gzip" }, zipped)).toEqual({
      status: 200,
      json: { got: { a: 4 } },
    });
  });

  it("an unknown encoding or charset is a 415 naming it; a body past bodyLimit once decompressed a 413", async () => {
    const encoding = await post({ "content-type": "application/json", "content-encoding": "compress" }, "{}");
    expect(encoding).toMatchObject({ status: 415, json: { code: "WEIR_ERR_BODY_ENCODING" } });
    expect(String((encoding.json as { message: string }).message)).toContain('"compress"');
    const charset = await post({ "content-type": "application/json; charset=klingon" }, "{}");
    expect(charset).toMatchObject({ status: 415, json: { code: "WEIR_ERR_BODY_CHARSET" } });
    const bomb = gzipSync(Buffer.from(`{"a":"${"x".repeat(2 * 1024 * 1024)}"}`));
    expect(
      await post({ "content-type": "application/json", "content-encoding": "gzip" }, bomb),
    ).toMatchObject({
      status: 413,
      json: { code: "WEIR_ERR_BODY_TOO_LARGE" },
    });
  });

  it("keeps fastify's refusals: invalid JSON 400, prototype poisoning 400", async () => {
    expect((await post({ "content-type": "application/json" }, "{bad")).status).toBe(400);
    expect((await post({ "content-type": "application/json" }, '{"__proto__":{"x":1}}')).status).toBe(400);
  });
});
