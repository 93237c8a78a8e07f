import type { Context } from "hono";
import { BastionError, errorCodes } from "../core/errors.ts";

const anthropicTypes: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
};

/**
 * An error as the client's dialect expects it: Ollama `{error: "..."}` under `/api`, Anthropic
 * `{type: "error", error: {type, message}}` on `/v1/messages`, OpenAI `{error: {...}}` elsewhere.
 */
export function dialectErrorResponse(
  c: Context,
  error: BastionError,
  headers: Record<string, string> = {},
): Response {
  const status = error.status as 400;
  const all = { ...headers };
  if (error.retryAfterSeconds !== undefined)
    all["Retry-After"] = String(Math.max(0, Math.ceil(error.retryAfterSeconds)));
  const path = c.req.path;
  if (path === "/api" || path.startsWith("/api/")) return c.json({ error: error.message }, status, all);
  if (path === "/v1/messages" || path.startsWith("/v1/messages/")) {
    return c.json(
      { type: "error", error: { type: anthropicTypes[error.status] ?? "api_error", message: error.message } },
      status,
      all,
    );
  }
  return c.json(
    {
      error: {
        message: error.message,
        type: errorCodes[error.code].type,
        param: error.param,
        code: error.code,
      },
    },
    status,
    all,
  );
}

/** Whatever was thrown, as a BastionError (unknown errors become a 500 that reveals nothing). */
export function asBastionError(error: unknown): BastionError {
  return error instanceof BastionError
    ? error
    : new BastionError("internal_error", "The server could not check your credentials; try again.", {
        cause: error,
      });
}
