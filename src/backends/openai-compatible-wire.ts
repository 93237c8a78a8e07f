import type { ChatMessage, ChatRequest, FinishReason, Usage } from "../core/chat.ts";

/*
 * The OpenAI wire format as an upstream speaks it: what Bastion sends (core request -> body) and
 * reads back (chunks -> core parts). Tolerant on input: vLLM, llama.cpp, Ollama and the clouds
 * each leave out or add fields.
 */

type WireMessage =
  | { role: "system" | "user"; content: string }
  | {
      role: "assistant";
      content: string | null;
      tool_calls?: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>;
    }
  | { role: "tool"; content: string; tool_call_id: string };

function toWireMessage(message: ChatMessage): WireMessage {
  if (message.role === "assistant") {
    // Reasoning the client echoed back is not resent: upstreams refuse or ignore it.
    const calls = message.toolCalls ?? [];
    return {
      role: "assistant",
      content: message.content === "" && calls.length > 0 ? null : message.content,
      ...(calls.length === 0
        ? {}
        : {
            tool_calls: calls.map((call) => ({
              id: call.id,
              type: "function" as const,
              function: { name: call.name, arguments: call.arguments },
            })),
          }),
    };
  }
  if (message.role === "tool")
    return { role: "tool", content: message.content, tool_call_id: message.toolCallId };
  return { role: message.role, content: message.content };
}

/** The streaming request body for `POST {baseUrl}/chat/completions`. */
export function toUpstreamBody(request: ChatRequest, upstreamModel: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: upstreamModel,
    messages: request.messages.map(toWireMessage),
    stream: true,
    stream_options: { include_usage: true },
  };
  const sampling = request.sampling;
  if (sampling.temperature !== undefined) body.temperature = sampling.temperature;
  if (sampling.topP !== undefined) body.top_p = sampling.topP;
  if (sampling.seed !== undefined) body.seed = sampling.seed;
  if (sampling.presencePenalty !== undefined) body.presence_penalty = sampling.presencePenalty;
  if (sampling.frequencyPenalty !== undefined) body.frequency_penalty = sampling.frequencyPenalty;
  // llama.cpp and vLLM extensions: sent only when the client set them, since clouds refuse unknown fields.
  if (sampling.topK !== undefined) body.top_k = sampling.topK;
  if (sampling.minP !== undefined) body.min_p = sampling.minP;
  if (sampling.repeatPenalty !== undefined) body.repeat_penalty = sampling.repeatPenalty;
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop;
  if (request.reasoningEffort !== undefined) body.reasoning_effort = request.reasoningEffort;
  const format = request.responseFormat;
  if (format !== undefined && format.type !== "text") {
    body.response_format =
      format.type === "json_object"
        ? { type: "json_object" }
        : {
            type: "json_schema",
            json_schema: {
              name: format.name,
              schema: format.schema,
              ...(format.strict === undefined ? {} : { strict: format.strict }),
            },
          };
  }
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        ...(tool.parameters === undefined ? {} : { parameters: tool.parameters }),
      },
    }));
  }
  const choice = request.toolChoice;
  if (choice !== undefined) {
    body.tool_choice =
      typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
  }
  return body;
}

export function toFinishReason(reason: unknown): FinishReason {
  if (reason === "length") return "length";
  if (reason === "tool_calls" || reason === "function_call") return "tool_calls";
  if (reason === "content_filter") return "content_filter";
  return "stop";
}

const zeroUsage: Usage = { promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedPromptTokens: 0 };

function count(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;
}

/** OpenAI usage (with the `*_details` objects where the upstream sends them) -> core usage. */
export function toUsage(wire: unknown): Usage {
  if (typeof wire !== "object" || wire === null) return { ...zeroUsage };
  const usage = wire as Record<string, unknown>;
  const completionDetails = (usage.completion_tokens_details ?? {}) as Record<string, unknown>;
  const promptDetails = (usage.prompt_tokens_details ?? {}) as Record<string, unknown>;
  return {
    promptTokens: count(usage.prompt_tokens),
    completionTokens: count(usage.completion_tokens),
    reasoningTokens: count(completionDetails.reasoning_tokens),
    cachedPromptTokens: count(promptDetails.cached_tokens),
  };
}

/** The message of an OpenAI-shaped error body (`{error: {message}}` or `{error: "text"}`), if it is one. */
export function upstreamErrorMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const error = (body as { error: unknown }).error;
  if (typeof error === "string") return error;
  if (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { message?: unknown }).message === "string"
  ) {
    return (error as { message: string }).message;
  }
  return error === null || error === undefined ? undefined : "an error object without a message";
}

/**
 * The HTTP status an error body names for itself, when it does: a numeric `code` or `status` (vLLM
 * sends `code: 400`), or 400 for OpenAI's `invalid_request_error` and vLLM's `BadRequestError`.
 * Read for an error inside a 200 answer, where the response status says nothing.
 */
export function upstreamErrorStatus(body: unknown): number | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return undefined;
  const { code, status, type } = error as { code?: unknown; status?: unknown; type?: unknown };
  for (const value of [status, code]) {
    const number = typeof value === "string" && /^\d{3}$/.test(value) ? Number(value) : value;
    if (typeof number === "number" && Number.isInteger(number) && number >= 400 && number < 600)
      return number;
  }
  return type === "invalid_request_error" || type === "BadRequestError" ? 400 : undefined;
}
