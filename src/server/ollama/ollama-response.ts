import type { ChatStreamPart, FinishReason, ToolCall } from "../../core/chat.ts";
import type { WireEvidence } from "../evidence.ts";

/*
 * Core stream parts -> Ollama's `/api/chat` and `/api/generate` objects. A stream is one JSON
 * object per line with `done: false`, then a last one with `done: true`, `done_reason`, token
 * counts and durations in nanoseconds. Thinking goes in `thinking`, never inside the answer text.
 */

export type OllamaDialect = "chat" | "generate";

export interface OllamaToolCall {
  id: string;
  function: { index: number; name: string; arguments: Record<string, unknown> };
}

export interface OllamaMessage {
  role: "assistant";
  content: string;
  thinking?: string;
  tool_calls?: OllamaToolCall[];
}

export interface OllamaStats {
  done_reason: "stop" | "length";
  total_duration: number;
  load_duration: number;
  prompt_eval_count: number;
  prompt_eval_duration: number;
  eval_count: number;
  eval_duration: number;
}

/** One streamed object, or the whole answer when `done` is true. */
export type OllamaFrame = {
  model: string;
  created_at: string;
  done: boolean;
  /** Where the answer was computed and what policy decided; on the last object only. */
  bastion?: WireEvidence;
} & ({ message: OllamaMessage } | { response: string; thinking?: string }) &
  Partial<OllamaStats>;

/** The arguments of a call as an object: Ollama clients index into them without parsing. */
export function toArgumentsObject(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // A call cut short by the token limit has partial JSON; `done_reason: "length"` says so.
  }
  return {};
}

function toOllamaToolCall(index: number, call: ToolCall): OllamaToolCall {
  return { id: call.id, function: { index, name: call.name, arguments: toArgumentsObject(call.arguments) } };
}

function toDoneReason(reason: FinishReason): OllamaStats["done_reason"] {
  return reason === "length" ? "length" : "stop";
}

const nanosPerMs = 1_000_000;

/** Counts and durations of a finished answer; `startedAt` is `performance.now()` when the request came in. */
export function toOllamaStats(
  finish: Extract<ChatStreamPart, { type: "finish" }>,
  startedAt: number,
): OllamaStats {
  const totalMs = performance.now() - startedAt;
  const timings = finish.timings ?? { queueMs: 0, promptMs: 0, generationMs: 0 };
  // What the engine does not account for (waiting for a slot, evaluating, generating) is mostly
  // the model's load on a first request, which Ollama reports as `load_duration`.
  const loadMs = Math.max(0, totalMs - timings.queueMs - timings.promptMs - timings.generationMs);
  return {
    done_reason: toDoneReason(finish.finishReason),
    total_duration: Math.round(totalMs * nanosPerMs),
    load_duration: Math.round(loadMs * nanosPerMs),
    prompt_eval_count: finish.usage.promptTokens,
    prompt_eval_duration: Math.round(timings.promptMs * nanosPerMs),
    eval_count: finish.usage.completionTokens,
    eval_duration: Math.round(timings.generationMs * nanosPerMs),
  };
}

/** Builds the frames of one answer in the chat or generate dialect. */
export function createOllamaFramer(dialect: OllamaDialect, model: string, startedAt: number) {
  const frame = (text: string, thinking: string, toolCalls: OllamaToolCall[], done: boolean): OllamaFrame => {
    const created_at = new Date().toISOString();
    if (dialect === "generate") {
      return { model, created_at, response: text, ...(thinking === "" ? {} : { thinking }), done };
    }
    const message: OllamaMessage = { role: "assistant", content: text };
    if (thinking !== "") message.thinking = thinking;
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    return { model, created_at, message, done };
  };

  return {
    /** The streamed frame for one part, or undefined when the part carries nothing to send. */
    toFrame(part: ChatStreamPart): OllamaFrame | undefined {
      switch (part.type) {
        case "text-delta":
          return part.text === "" ? undefined : frame(part.text, "", [], false);
        case "reasoning-delta":
          return part.text === "" ? undefined : frame("", part.text, [], false);
        case "tool-call":
          return frame("", "", [toOllamaToolCall(part.index, part.call)], false);
        case "tool-call-delta":
          // Ollama sends each call whole, with its arguments as an object: the `tool-call` part.
          return undefined;
        case "finish":
          return { ...frame("", "", [], true), ...toOllamaStats(part, startedAt) };
      }
    },

    /** Folds a whole part stream into the one object of a `stream: false` request. */
    async collect(parts: AsyncIterable<ChatStreamPart>): Promise<OllamaFrame> {
      let text = "";
      let thinking = "";
      const calls: OllamaToolCall[] = [];
      let finish: Extract<ChatStreamPart, { type: "finish" }> | undefined;
      for await (const part of parts) {
        if (part.type === "text-delta") text += part.text;
        else if (part.type === "reasoning-delta") thinking += part.text;
        else if (part.type === "tool-call") calls.push(toOllamaToolCall(part.index, part.call));
        else if (part.type === "finish") finish = part;
      }
      if (finish === undefined) throw new Error("The backend ended its stream without a finish part.");
      calls.sort((a, b) => a.function.index - b.function.index);
      return { ...frame(text, thinking, calls, true), ...toOllamaStats(finish, startedAt) };
    },
  };
}
