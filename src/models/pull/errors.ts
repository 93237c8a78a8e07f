import { BastionError, type BastionErrorCode } from "../../core/errors.ts";

/** Why a pull failed; stable for tests and for callers that react (e.g. `npm start` falling back offline). */
export type PullFailureReason =
  | "invalid_ref"
  | "no_matching_quant"
  | "not_found"
  | "gated"
  | "checksum_mismatch"
  | "size_mismatch"
  | "disk_full"
  | "offline"
  | "interrupted"
  | "http_error"
  | "busy";

const codeByReason: Record<PullFailureReason, BastionErrorCode> = {
  invalid_ref: "invalid_request",
  no_matching_quant: "model_not_found",
  not_found: "model_not_found",
  gated: "forbidden",
  checksum_mismatch: "upstream_error",
  size_mismatch: "upstream_error",
  disk_full: "insufficient_storage",
  offline: "upstream_error",
  interrupted: "upstream_error",
  http_error: "upstream_error",
  busy: "conflict",
};

/** A model pull that failed; the message always says what to do next. */
export class ModelPullError extends BastionError {
  readonly reason: PullFailureReason;

  constructor(
    reason: PullFailureReason,
    message: string,
    options: { cause?: unknown; isRetryable?: boolean } = {},
  ) {
    super(codeByReason[reason], message, options);
    this.name = "ModelPullError";
    this.reason = reason;
  }
}

export function isModelPullError(error: unknown): error is ModelPullError {
  return error instanceof ModelPullError;
}

const offlineCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const transientCodes = new Set([
  ...offlineCodes,
  "ECONNRESET",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_CLOSED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** The system error code of a fetch failure, looking through undici's `TypeError: fetch failed` wrappers. */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (typeof current === "object" && "code" in current && typeof current.code === "string") {
      return current.code;
    }
    current = typeof current === "object" && "cause" in current ? current.cause : undefined;
  }
  return undefined;
}

/** Connection-level failures: the host cannot be reached at all. */
export function isOfflineError(error: unknown): boolean {
  const code = networkErrorCode(error);
  return code !== undefined && offlineCodes.has(code);
}

/** Failures worth retrying (and resuming) after a pause. */
export function isTransientNetworkError(error: unknown): boolean {
  if (error instanceof ModelPullError) return error.isRetryable;
  const code = networkErrorCode(error);
  if (code !== undefined) return transientCodes.has(code);
  // undici reports a body cut short as "terminated" without a code.
  return error instanceof TypeError && /terminated|fetch failed|other side closed/i.test(error.message);
}

export function offlineError(what: string, cause: unknown): ModelPullError {
  const code = networkErrorCode(cause) ?? "network error";
  return new ModelPullError(
    "offline",
    `Cannot reach ${what} (${code}): no network. Use a local file with --model, or set HF_ENDPOINT to a mirror you can reach.`,
    { cause, isRetryable: true },
  );
}
