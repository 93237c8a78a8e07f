/**
 * Every error Bastion reports has a stable code; this table is the one place that maps a code
 * to its HTTP status and OpenAI error `type`.
 */
export const errorCodes = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  invalid_json: { status: 400, type: "invalid_request_error" },
  context_length_exceeded: { status: 400, type: "invalid_request_error" },
  unsupported_parameter: { status: 400, type: "invalid_request_error" },
  unauthorized: { status: 401, type: "authentication_error" },
  forbidden: { status: 403, type: "permission_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  method_not_allowed: { status: 405, type: "invalid_request_error" },
  conflict: { status: 409, type: "invalid_request_error" },
  payload_too_large: { status: 413, type: "invalid_request_error" },
  unsupported_media_type: { status: 415, type: "invalid_request_error" },
  rate_limited: { status: 429, type: "rate_limit_error" },
  queue_full: { status: 503, type: "server_error" },
  model_too_large: { status: 503, type: "server_error" },
  not_ready: { status: 503, type: "server_error" },
  cancelled: { status: 499, type: "server_error" },
  upstream_error: { status: 502, type: "server_error" },
  insufficient_storage: { status: 507, type: "server_error" },
  internal_error: { status: 500, type: "server_error" },
} as const satisfies Record<string, { status: number; type: string }>;

export type BastionErrorCode = keyof typeof errorCodes;

export interface BastionErrorOptions {
  /** The request field at fault, as the client wrote it (e.g. `messages[2].content`). */
  param?: string | null;
  /** Seconds the client should wait before retrying (sent as `Retry-After`). */
  retryAfterSeconds?: number;
  /** Whether retrying the same request later may succeed. */
  isRetryable?: boolean;
  /**
   * Why a policy refused the request, machine-readable (`secret_detected`, `no_allowed_backend`,
   * ...): answered as the `x-bastion-policy-reason` header and, in OpenAI's shape, `error.reason`.
   */
  policyReason?: string;
  cause?: unknown;
}

/** The one error class that crosses module boundaries; its `code` decides the HTTP status. */
export class BastionError extends Error {
  readonly code: BastionErrorCode;
  readonly param: string | null;
  readonly retryAfterSeconds: number | undefined;
  readonly isRetryable: boolean;
  readonly policyReason: string | undefined;

  constructor(code: BastionErrorCode, message: string, options: BastionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BastionError";
    this.code = code;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.isRetryable = options.isRetryable ?? (code === "queue_full" || code === "rate_limited");
    this.policyReason = options.policyReason;
  }

  get status(): number {
    return errorCodes[this.code].status;
  }

  get type(): string {
    return errorCodes[this.code].type;
  }
}

export function isBastionError(error: unknown): error is BastionError {
  return error instanceof BastionError;
}
