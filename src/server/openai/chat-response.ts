import { randomBytes } from "node:crypto";
import type { ChatStreamPart, FinishReason, GenerationTimings, ToolCall, Usage } from "../../core/chat.ts";

/*
 * Core stream parts -> OpenAI `chat.completion` and `chat.completion.chunk` objects. Reasoning goes
 * out as `reasoning_content` (DeepSeek, llama.cpp), never inside `content`. Bastion adds `timings`
 * when the backend reports them; clients ignore unknown fields.
 */

export type WireFinishReason = "stop" | "length" | "tool_calls" | "content_filter";

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

export interface WireTimings {
  queue_ms: number;
  prompt_ms: number;
  generation_ms: number;
}

export interface WireToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{
    index: 0;
    message: {
      role: "assistant";
      content: string | null;
      reasoning_content?: string;
      tool_calls?: WireToolCall[];
      refusal: null;
    };
    logprobs: null;
    finish_reason: WireFinishReason;
  }>;
  usage: WireUsage;
  timings?: WireTimings;
}

/** A tool call in a chunk: the first for an index names it, later ones add to its arguments. */
export interface WireToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

export interface ChunkDelta {
  role?: "assistant";
  content?: string | null;
  reasoning_content?: string;
  tool_calls?: WireToolCallDelta[];
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: 0; delta: ChunkDelta; logprobs: null; finish_reason: WireFinishReason | null }>;
  usage?: WireUsage | null;
  timings?: WireTimings;
}

/** Identity shared by every object of one completion. */
export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
  systemFingerprint: string;
}

/** Random bytes drawn 4 KiB at a time: one `randomBytes` call per request costs more than the id is worth. */
const idPool = { bytes: Buffer.alloc(0), offset: 0 };

function randomId(): string {
  if (idPool.offset + 12 > idPool.bytes.length) {
    idPool.bytes = randomBytes(12 * 341);
    idPool.offset = 0;
  }
  const id = idPool.bytes.toString("base64url", idPool.offset, idPool.offset + 12);
  idPool.offset += 12;
  return id;
}

export function createCompletionIdentity(model: string, version: string): CompletionIdentity {
  return {
    id: `chatcmpl-${randomId()}`,
    created: Math.floor(Date.now() / 1000),
    model,
    systemFingerprint: `fp_bastion_${version}`,
  };
}

/** `cancelled` is not an OpenAI finish reason; a client that is still listening sees `stop`. */
export function toWireFinishReason(reason: FinishReason): WireFinishReason {
  return reason === "cancelled" ? "stop" : reason;
}

export function toWireUsage(usage: Usage): WireUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  };
}

export function toWireTimings(timings: GenerationTimings): WireTimings {
  return { queue_ms: timings.queueMs, prompt_ms: timings.promptMs, generation_ms: timings.generationMs };
}

function toWireToolCall(call: ToolCall): WireToolCall {
  return { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } };
}

/** Folds a whole part stream into one non-streamed `chat.completion`. */
export async function collectCompletion(
  parts: AsyncIterable<ChatStreamPart>,
  identity: CompletionIdentity,
): Promise<ChatCompletion> {
  let content = "";
  let reasoning = "";
  const toolCalls: Array<{ index: number; call: ToolCall }> = [];
  let finish: Extract<ChatStreamPart, { type: "finish" }> | undefined;
  for await (const part of parts) {
    if (part.type === "text-delta") content += part.text;
    else if (part.type === "reasoning-delta") reasoning += part.text;
    else if (part.type === "tool-call") toolCalls.push({ index: part.index, call: part.call });
    else if (part.type === "finish") finish = part;
  }
  if (finish === undefined) throw new Error("The backend ended its stream without a finish part.");
  const message: ChatCompletion["choices"][number]["message"] = {
    role: "assistant",
    content: toolCalls.length > 0 && content.length === 0 ? null : content,
    refusal: null,
  };
  if (reasoning.length > 0) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) {
    message.tool_calls = toolCalls
      .sort((a, b) => a.index - b.index)
      .map((entry) => toWireToolCall(entry.call));
  }
  const completion: ChatCompletion = {
    id: identity.id,
    object: "chat.completion",
    created: identity.created,
    model: identity.model,
    system_fingerprint: identity.systemFingerprint,
    choices: [{ index: 0, message, logprobs: null, finish_reason: toWireFinishReason(finish.finishReason) }],
    usage: toWireUsage(finish.usage),
  };
  if (finish.timings !== undefined) completion.timings = toWireTimings(finish.timings);
  return completion;
}

/**
 * Turns parts into chunks one at a time. The first chunk carries `role`; the finish part gives a
 * chunk with `finish_reason` and, when asked, a usage chunk with no choices.
 */
export function createChunker(identity: CompletionIdentity, options: { includeUsage: boolean }) {
  let sentRole = false;
  /** Arguments already sent per tool-call index, for calls that were streamed as deltas. */
  const streamedArguments = new Map<number, string>();
  const chunk = (delta: ChunkDelta, finishReason: WireFinishReason | null = null): ChatCompletionChunk => {
    if (!sentRole) {
      sentRole = true;
      delta = { role: "assistant", ...delta };
    }
    const out: ChatCompletionChunk = {
      id: identity.id,
      object: "chat.completion.chunk",
      created: identity.created,
      model: identity.model,
      system_fingerprint: identity.systemFingerprint,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    };
    // OpenAI sends `usage: null` on every chunk but the last when usage was asked for.
    if (options.includeUsage) out.usage = null;
    return out;
  };
  return {
    /** The chunks (zero, one or two) that carry one stream part. */
    toChunks(part: ChatStreamPart): ChatCompletionChunk[] {
      switch (part.type) {
        case "text-delta":
          return part.text.length === 0 ? [] : [chunk({ content: part.text })];
        case "reasoning-delta":
          return part.text.length === 0 ? [] : [chunk({ reasoning_content: part.text })];
        case "tool-call-delta": {
          // As OpenAI does: the call's id and name at once, then its arguments piece by piece.
          const sent = streamedArguments.get(part.index);
          streamedArguments.set(part.index, (sent ?? "") + part.argumentsDelta);
          if (sent === undefined) {
            return [
              chunk({
                tool_calls: [
                  {
                    index: part.index,
                    id: part.id,
                    type: "function",
                    function: { name: part.name, arguments: part.argumentsDelta },
                  },
                ],
              }),
            ];
          }
          if (part.argumentsDelta === "") return [];
          return [
            chunk({ tool_calls: [{ index: part.index, function: { arguments: part.argumentsDelta } }] }),
          ];
        }
        case "tool-call": {
          const sent = streamedArguments.get(part.index);
          if (sent === undefined) {
            return [chunk({ tool_calls: [{ index: part.index, ...toWireToolCall(part.call) }] })];
          }
          // Streamed already: send only what the deltas did not carry, if anything.
          const rest = part.call.arguments.startsWith(sent) ? part.call.arguments.slice(sent.length) : "";
          return rest === ""
            ? []
            : [chunk({ tool_calls: [{ index: part.index, function: { arguments: rest } }] })];
        }
        case "finish": {
          const last = chunk({}, toWireFinishReason(part.finishReason));
          if (part.timings !== undefined) last.timings = toWireTimings(part.timings);
          if (!options.includeUsage) return [last];
          const usage: ChatCompletionChunk = {
            id: identity.id,
            object: "chat.completion.chunk",
            created: identity.created,
            model: identity.model,
            system_fingerprint: identity.systemFingerprint,
            choices: [],
            usage: toWireUsage(part.usage),
          };
          return [last, usage];
        }
      }
    },
  };
}
