import type { OpenAIErrorBody } from "../error-response.ts";

/** Ollama's error body: one string, with the HTTP status telling the kind. */
export interface OllamaErrorBody {
  error: string;
}

/** Whether a request path belongs to the Ollama dialect, whose errors take Ollama's shape. */
export function isOllamaPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}

/**
 * The message of an error with the field at fault in it: OpenAI's body carries the field apart in
 * `param`, the Ollama and Anthropic bodies have only the message.
 */
export function messageNamingField(body: OpenAIErrorBody): string {
  const { message, param } = body.error;
  return param === null || message.includes(param) ? message : `'${param}': ${message}`;
}

/**
 * The same error in Ollama's shape. The engine spells fields as the OpenAI dialect does; those
 * that Ollama names otherwise are renamed.
 */
export function toOllamaErrorBody(body: OpenAIErrorBody): OllamaErrorBody {
  const message = messageNamingField(body)
    .replaceAll("response_format.json_schema.schema", "format")
    .replaceAll("max_tokens", "options.num_predict");
  return { error: message };
}
