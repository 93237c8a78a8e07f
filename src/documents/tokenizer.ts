/** Counts tokens the way the embedding model will: chunk sizes are in the model's own tokens. */
export interface TextTokenizer {
  /** e.g. the model id, or `approximate`. */
  readonly name: string;
  count(text: string): number;
}

/**
 * The fallback when no model tokenizer is available (no embedding model, or a remote one): about
 * four characters per token, OpenAI's rule of thumb for English; European languages run close.
 */
export const approximateTokenizer: TextTokenizer = {
  name: "approximate",
  count: (text) => Math.ceil(text.length / 4),
};
