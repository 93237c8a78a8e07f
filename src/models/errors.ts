import { BastionError } from "../core/errors.ts";

/** A GGUF file that does not parse: wrong magic, unsupported version, truncated, or a bad value type. */
export class GgufFormatError extends BastionError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("internal_error", message, options);
    this.name = "GgufFormatError";
  }
}

/** A synthetic model that cannot be built: unknown preset, bad type, missing tool (git). */
export class SyntheticModelError extends BastionError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("invalid_request", message, options);
    this.name = "SyntheticModelError";
  }
}
