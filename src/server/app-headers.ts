import { limitHeaderNames } from "../auth/index.ts";
import { reasonHeader } from "./error-response.ts";
import { evidenceHeaderNames } from "./evidence.ts";

/** Headers the browser may read on a cross-origin response. */
export const exposedHeaders = [
  "X-Request-Id",
  "Retry-After",
  ...evidenceHeaderNames,
  reasonHeader,
  ...limitHeaderNames,
];
const exposedHeaderList = exposedHeaders.join(",");

/** Responses built by `plainResponse`, which carry the app-wide headers in their own header object. */
const complete = new WeakSet<Response>();

/**
 * Puts the headers every response carries (CORS, `X-Request-Id`) on a finished response, as
 * Hono's cors would set them. A response from `plainResponse` already has them and is left as it
 * is: reading its `headers` would turn its plain header object into a web `Headers`, which
 * node-server then has to copy back into one.
 */
export function finishHeaders(response: Response, requestId: string): void {
  if (complete.has(response)) return;
  const headers = response.headers;
  headers.set("Access-Control-Allow-Origin", "*");
  headers.set("Access-Control-Expose-Headers", exposedHeaderList);
  // A response built without `c` (file content) misses the request id; as before, it has one.
  if (!headers.has("x-request-id")) headers.set("X-Request-Id", requestId);
}

/**
 * A response whose headers are one plain object with the app-wide headers included, which
 * node-server writes as it is (`c.json` and `c.header` build a web `Headers`, and the CORS step
 * adds to it). Only for handlers behind no middleware that prepares headers with `c.header()`
 * before them: those would not be on it. A middleware may still change the response afterwards.
 */
export function plainResponse(
  body: string | ReadableStream<Uint8Array>,
  status: number,
  headers: Record<string, string>,
  requestId: string,
): Response {
  const response = new Response(body, {
    status,
    headers: {
      ...headers,
      "access-control-allow-origin": "*",
      "access-control-expose-headers": exposedHeaderList,
      "x-request-id": requestId,
    },
  });
  complete.add(response);
  return response;
}

/** A JSON answer (`c.json` without its `Headers`); see `plainResponse`. */
export function jsonResponse(
  text: string,
  status: number,
  headers: Record<string, string>,
  requestId: string,
): Response {
  return plainResponse(text, status, { "content-type": "application/json", ...headers }, requestId);
}
