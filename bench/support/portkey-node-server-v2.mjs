/**
 * Preload for Portkey's gateway in bench:gateway (`node --import` this file): its imports of
 * `@hono/node-server` resolve to the tree's v2 instead of the 1.19 it bundles. 1.19's light
 * Response keeps a fetched Response's immutable Headers when Portkey re-wraps an upstream stream
 * (`new Response(stream, upstreamResponse)`), so Portkey's `updateHeaders` throws
 * "TypeError: immutable" and every streamed request is a 500 (Node 20 and 24 alike).
 */
import { registerHooks } from "node:module";

const root = new URL("../../package.json", import.meta.url).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (
      specifier.startsWith("@hono/node-server") &&
      context.parentURL?.includes("/node_modules/@portkey-ai/gateway/")
    )
      return nextResolve(specifier, { ...context, parentURL: root });
    return nextResolve(specifier, context);
  },
});
