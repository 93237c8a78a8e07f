import { BastionError } from "../core/errors.ts";

/**
 * A request the policy refuses, or could not evaluate (fail closed). `reason` is machine-readable
 * (`secret_detected`, `personal_declared`, `no_allowed_backend`, `policy_error`, `unknown_policy`):
 * every dialect answers it in the `x-bastion-policy-reason` header, OpenAI's error body also as
 * `error.reason`, and it ends the message for people.
 */
export class PolicyDeniedError extends BastionError {
  readonly reason: string;

  constructor(reason: string, message: string, options: { cause?: unknown } = {}) {
    super("forbidden", `${message} (reason: ${reason})`, { ...options, policyReason: reason });
    this.reason = reason;
  }
}
