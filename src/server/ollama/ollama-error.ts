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
 * The same error in Ollama's shape: the message, which names the field at fault. The engine
 * spells fields as the OpenAI dialect does; those that Ollama names otherwise are renamed.
 */
export function toOllamaErrorBody(body: OpenAIErrorBody): OllamaErrorBody {
  const message = body.error.message
    .replaceAll("response_format.json_schema.schema", "format")
    .replaceAll("max_tokens", "options.num_predict");
  return { error: message };
}
