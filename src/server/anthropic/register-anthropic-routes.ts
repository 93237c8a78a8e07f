import type { Hono } from "hono";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { createCountTokensHandler, createMessagesHandler } from "./messages-route.ts";

/** Anthropic's routes and the methods they answer; any other method is a 405. */
export const anthropicRouteMethods: Record<string, string> = {
  "/v1/messages": "POST",
  "/v1/messages/count_tokens": "POST",
};

/**
 * Mounts Anthropic's Messages API: `POST /v1/messages` (JSON or the SSE event stream) and
 * `POST /v1/messages/count_tokens`. The `/v1/*` content-type and body-limit rules apply; errors are
 * answered in Anthropic's shape by the app's error handler (see `isAnthropicPath`).
 */
export function registerAnthropicRoutes(app: Hono<ServerEnv>, deps: ServerDependencies): void {
  app.post("/v1/messages", createMessagesHandler(deps));
  app.post("/v1/messages/count_tokens", createCountTokensHandler(deps));
  for (const [path, allow] of Object.entries(anthropicRouteMethods)) {
    app.all(path, (c) =>
      c.json(
        {
          type: "error",
          error: {
            type: "invalid_request_error",
            message: `Method ${c.req.method} is not allowed on ${path}; use ${allow}.`,
          },
        },
        405,
        { Allow: allow },
      ),
    );
  }
}
