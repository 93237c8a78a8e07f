import type { OpenAIErrorBody } from "../error-response.ts";

/** Ollama's error body: one string, with the HTTP status telling the kind. */
export interface OllamaErrorBody {
  error: string;
}

/** Whether a request path belongs to the Ollama dialect, whose errors take Ollama's shape. */
export function isOllamaPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}

/** The same error in Ollama's shape: the message, which already names the field at fault. */
export function toOllamaErrorBody(body: OpenAIErrorBody): OllamaErrorBody {
  return { error: body.error.message };
}
