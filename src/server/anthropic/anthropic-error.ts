import type { ErrorResponse } from "../error-response.ts";
import { messageNamingField } from "../ollama/ollama-error.ts";

/** Anthropic's error body; the SDK picks its error class from the status and reads `error.type`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
  request_id?: string;
}

/** Whether a request path belongs to the Anthropic dialect, whose errors take Anthropic's shape. */
export function isAnthropicPath(path: string): boolean {
  return path === "/v1/messages" || path.startsWith("/v1/messages/");
}

/**
 * Anthropic's error type for a status. Read from the status rather than from Bastion's code, so
 * that codes other modules add (budgets, policies) map without a change here.
 */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
    case 405:
    case 415:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 409:
      return "conflict_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
  }
}

/** The same error in Anthropic's shape. */
export function toAnthropicErrorBody(
  response: ErrorResponse,
  requestId: string | undefined,
): AnthropicErrorBody {
  return {
    type: "error",
    // The engine spells a tool's schema as the OpenAI dialect does.
    error: {
      type: anthropicErrorType(response.status),
      message: messageNamingField(response.body).replace(
        /tools\[(\d+)\]\.function\.parameters/g,
        "tools[$1].input_schema",
      ),
    },
    ...(requestId === undefined ? {} : { request_id: requestId }),
  };
}
