import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { BastionError, type BastionErrorCode, errorCodes, isBastionError } from "../core/errors.ts";

/** The OpenAI error body: every non-2xx answer of the API has this shape. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string; reason?: string };
}

export interface ErrorResponse {
  status: number;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
  /** True when the error is the server's fault and worth logging at error level. */
  unexpected: boolean;
}

/** The code a zod refinement may put in `params.bastionCode` to pick a code other than `invalid_request`. */
export interface IssueParams {
  bastionCode?: BastionErrorCode;
}

/**
 * Maps anything thrown while serving a request to an OpenAI-shaped error. Unknown errors become a
 * 500 whose message names the request id but never the cause (no stack traces on the wire).
 */
export function toErrorResponse(error: unknown, requestId: string | undefined): ErrorResponse {
  const bastionError = toBastionError(error);
  if (bastionError) {
    const headers: Record<string, string> = {};
    if (bastionError.retryAfterSeconds !== undefined) {
      headers["Retry-After"] = String(Math.max(0, Math.ceil(bastionError.retryAfterSeconds)));
    }
    const body = errorBody(bastionError.code, bastionError.message, bastionError.param);
    if (bastionError.policyReason !== undefined) {
      headers[reasonHeader] = bastionError.policyReason;
      body.error.reason = bastionError.policyReason;
    }
    return {
      status: bastionError.status,
      body,
      headers,
      unexpected: bastionError.code === "internal_error",
    };
  }
  const reference = requestId === undefined ? "" : ` (request id ${requestId})`;
  return {
    status: 500,
    body: errorBody("internal_error", `The server had an error while processing your request${reference}.`),
    headers: {},
    unexpected: true,
  };
}

/** The header that carries a refusal's machine-readable reason (a policy block's `secret_detected`, ...). */
export const reasonHeader = "x-bastion-policy-reason";

/** The OpenAI error body for a code; `type` comes from the core table. */
export function errorBody(
  code: BastionErrorCode,
  message: string,
  param: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type: errorCodes[code].type, param, code } };
}

function toBastionError(error: unknown): BastionError | undefined {
  if (isBastionError(error)) return error;
  if (error instanceof z.ZodError) return fromZodError(error);
  if (error instanceof HTTPException) {
    if (error.status === 413) return new BastionError("payload_too_large", "Request body is too large.");
    if (error.status === 404) return new BastionError("not_found", "Not found.");
    if (error.status === 405) return new BastionError("method_not_allowed", "Method not allowed.");
    if (error.status === 415) return new BastionError("unsupported_media_type", "Unsupported content type.");
    if (error.status >= 400 && error.status < 500) return new BastionError("invalid_request", error.message);
  }
  return undefined;
}

/** Turns the first zod issue into a BastionError naming the field as the client wrote it. */
export function fromZodError(error: z.ZodError): BastionError {
  const first = error.issues[0];
  if (first === undefined) return new BastionError("invalid_request", "Invalid request body.");
  const { issue, path } = deepestIssue(first, []);
  const param = path.length === 0 ? null : formatPath(path);
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : "";
  const code =
    issue.code === "custom" ? ((issue.params as IssueParams | undefined)?.bastionCode ?? null) : null;
  return new BastionError(code ?? "invalid_request", `${describeIssue(issue, param)}${more}`, { param });
}

type Issue = z.core.$ZodIssue;

/**
 * A union issue hides the useful error inside one branch: when a branch got further than its
 * type check (its error has a longer path), report that branch's error instead.
 */
function deepestIssue(issue: Issue, prefix: PropertyKey[]): { issue: Issue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== "invalid_union") return { issue, path };
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    const candidate = branch[0];
    if (
      candidate !== undefined &&
      candidate.path.length > 0 &&
      candidate.path.length > (best?.path.length ?? 0)
    ) {
      best = candidate;
    }
  }
  return best === undefined ? { issue, path } : deepestIssue(best, path);
}

function describeIssue(issue: Issue, param: string | null): string {
  const field = param === null ? "request body" : `'${param}'`;
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
    return param === null ? "Missing request body." : `Missing required parameter: ${field}.`;
  }
  if (issue.code === "custom" || issue.code === "invalid_union") return issue.message;
  return `Invalid value for ${field}: ${lowerFirst(issue.message).replace(/\.$/, "")}.`;
}

function lowerFirst(text: string): string {
  return text.length === 0 ? text : text[0]!.toLowerCase() + text.slice(1);
}

/** `["messages", 0, "content"]` -> `messages[0].content`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out.length === 0 ? String(key) : `.${String(key)}`;
  }
  return out;
}
