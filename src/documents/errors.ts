import { BastionError } from "../core/errors.ts";

/** Why a document could not be indexed; recorded on the file's status and the vector store file's `last_error`. */
export type DocumentErrorKind = "unsupported_file" | "invalid_file" | "too_large" | "no_text" | "encrypted";

/** A document that cannot be parsed or indexed: a client problem, reported on the file, never a crash. */
export class DocumentError extends BastionError {
  readonly kind: DocumentErrorKind;
  constructor(kind: DocumentErrorKind, message: string, options: { cause?: unknown } = {}) {
    super("invalid_request", message, options);
    this.name = "DocumentError";
    this.kind = kind;
  }

  /** OpenAI's `last_error.code` for vector store files. */
  get openaiCode(): "unsupported_file" | "invalid_file" {
    return this.kind === "unsupported_file" ? "unsupported_file" : "invalid_file";
  }
}
