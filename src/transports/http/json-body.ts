import type { FastifyInstance } from "fastify";
import { bodyText } from "../../core/codec/body.js";
import { InvalidBodyError } from "../../core/codec/errors.js";

/**
 * JSON request bodies decoded as weir decodes every body (core's codec): `application/json` and
 * every `+json` type (`application/cloudevents+json`, `application/problem+json`), in any case;
 * a BOM dropped, the `charset` honoured, `Content-Encoding` gzip / deflate / br undone. The JSON
 * itself is parsed by fastify's own parser, which refuses prototype poisoning (`__proto__`).
 *
 * fastify alone answers `application/cloudevents+json` with 415, reads a latin-1 body as UTF-8, and
 * a gzip body as invalid JSON. A compressed body may decompress to `bodyLimit` bytes at most (413).
 */
const JSON_TYPES = /^\s*application\/(?:[!#$%&'*.^_`|~0-9a-z-]+\+)?json\s*(?:;|$)/i;

/** The status for a body the codec refuses: an unsupported coding or charset is 415 (RFC 9110). */
function statusOf(error: InvalidBodyError): number {
  if (error.code === "WEIR_ERR_BODY_TOO_LARGE") return 413;
  if (error.code === "WEIR_ERR_INVALID_JSON") return 400;
  return 415;
}

/** fastify's default `bodyLimit` (bytes), when the app's fastify options set none. */
const FASTIFY_BODY_LIMIT = 1024 * 1024;

export function installJsonBodies(instance: FastifyInstance): void {
  const parseJson = instance.getDefaultJsonParser("error", "error");
  // A compressed body may not expand past the limit its raw size has (a zip bomb under bodyLimit).
  const maxBytes = instance.initialConfig.bodyLimit ?? FASTIFY_BODY_LIMIT;
  instance.removeContentTypeParser("application/json");
  instance.addContentTypeParser(JSON_TYPES, { parseAs: "buffer" }, (request, body, done) => {
    const headers = request.headers;
    const encoding = headers["content-encoding"];
    let text: string;
    try {
      text = bodyText(
        body as Buffer,
        headers["content-type"],
        Array.isArray(encoding) ? encoding.join(",") : encoding,
        maxBytes,
      );
    } catch (error) {
      if (!(error instanceof InvalidBodyError)) throw error;
      done(Object.assign(error, { statusCode: statusOf(error) }), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
