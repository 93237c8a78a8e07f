import { BastionError } from "../core/errors.ts";

/**
 * A request the policy refuses, or could not evaluate (fail closed). `reason` is machine-readable
 * (`secret_detected`, `personal_declared`, `no_allowed_backend`, `policy_error`, `unknown_policy`)
 * and also ends the message, since the OpenAI error body has no field of its own for it.
 */
export class PolicyDeniedError extends BastionError {
  readonly reason: string;

  constructor(reason: string, message: string, options: { cause?: unknown } = {}) {
    super("forbidden", `${message} (reason: ${reason})`, options);
    this.reason = reason;
  }
}
