import { createHash, randomBytes } from "node:crypto";
import type { ChatStreamPart, ToolCall, Usage } from "../../core/chat.ts";
import type { WireEvidence } from "../evidence.ts";

/*
 * Core stream parts -> Anthropic's `message` object and its streamed events: `message_start`,
 * then per content block `content_block_start`, deltas (`thinking_delta` + `signature_delta`,
 * `text_delta`, `input_json_delta`) and `content_block_stop`, then `message_delta` (stop reason and
 * usage) and `message_stop`.
 */

export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "refusal"
  | "model_context_window_exceeded";

/** Which message this is, and whether `max_tokens` was lowered to the room the context had. */
export interface MessageIdentity {
  id: string;
  model: string;
  contextLimited: boolean;
}

export type ContentBlock =
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
  bastion?: WireEvidence;
}

export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

type Finish = Extract<ChatStreamPart, { type: "finish" }>;

export function newMessageId(): string {
  return `msg_${randomBytes(12).toString("base64url")}`;
}

/**
 * Anthropic signs thinking blocks so that they can be checked when sent back. Bastion never feeds
 * thoughts back to the model, so it has nothing to check; the signature is the thought's SHA-256,
 * which lets clients that require one pass the block back unchanged.
 */
export function thinkingSignature(thinking: string): string {
  return createHash("sha256").update(thinking).digest("base64");
}

/**
 * Prompt tokens served from the reused KV cache are reported as cache reads, as Anthropic reports
 * prompt-cache hits: `input_tokens` counts only the tokens evaluated anew.
 */
export function toAnthropicUsage(usage: Usage): AnthropicUsage {
  return {
    input_tokens: usage.promptTokens - usage.cachedPromptTokens,
    output_tokens: usage.completionTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: usage.cachedPromptTokens,
  };
}

/** `contextLimited`: the cap was the context's room, not the client's `max_tokens` (see `fitMaxTokens`). */
export function toStopReason(finish: Finish, contextLimited: boolean): StopReason {
  switch (finish.finishReason) {
    case "length":
      return contextLimited ? "model_context_window_exceeded" : "max_tokens";
    case "tool_calls":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return finish.stopSequence === undefined ? "end_turn" : "stop_sequence";
  }
}

/** The arguments of a call as the object Anthropic's `input` must be. */
export function toInput(call: ToolCall): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(call.arguments);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // A call cut short by max_tokens has partial JSON; `stop_reason: "max_tokens"` says so.
  }
  return {};
}

/** Folds a whole part stream into one non-streamed `message`. */
export async function collectMessage(
  parts: AsyncIterable<ChatStreamPart>,
  identity: MessageIdentity,
): Promise<AnthropicMessage> {
  const content: ContentBlock[] = [];
  let finish: Finish | undefined;
  for await (const part of parts) {
    const last = content.at(-1);
    if (part.type === "reasoning-delta") {
      if (last?.type === "thinking") last.thinking += part.text;
      else if (part.text !== "") content.push({ type: "thinking", thinking: part.text, signature: "" });
    } else if (part.type === "text-delta") {
      if (last?.type === "text") last.text += part.text;
      else if (part.text !== "") content.push({ type: "text", text: part.text });
    } else if (part.type === "tool-call") {
      content.push({ type: "tool_use", id: part.call.id, name: part.call.name, input: toInput(part.call) });
    } else if (part.type === "finish") {
      finish = part;
    }
  }
  if (finish === undefined) throw new Error("The backend ended its stream without a finish part.");
  for (const block of content)
    if (block.type === "thinking") block.signature = thinkingSignature(block.thinking);
  return {
    id: identity.id,
    type: "message",
    role: "assistant",
    model: identity.model,
    content,
    stop_reason: toStopReason(finish, identity.contextLimited),
    stop_sequence: finish.stopSequence ?? null,
    usage: toAnthropicUsage(finish.usage),
  };
}

/**
 * Turns parts into Anthropic's stream events, one content block at a time: a block opens when a
 * part of another kind arrives and closes before the next opens. A tool call streamed as deltas
 * opens its block with the first delta and closes on the whole call.
 */
export function createEventWriter(identity: MessageIdentity) {
  let index = -1;
  let open: { type: ContentBlock["type"]; thinking: string; toolIndex?: number } | undefined;
  /** Calls whose block was opened by deltas: their whole `tool-call` part only closes it. */
  const streamedCalls = new Set<number>();

  const close = (events: StreamEvent[]) => {
    if (open === undefined) return;
    if (open.type === "thinking") {
      events.push(delta({ type: "signature_delta", signature: thinkingSignature(open.thinking) }));
    }
    events.push({ event: "content_block_stop", data: { type: "content_block_stop", index } });
    open = undefined;
  };
  const start = (events: StreamEvent[], block: ContentBlock, toolIndex?: number) => {
    close(events);
    index++;
    open = { type: block.type, thinking: "", ...(toolIndex === undefined ? {} : { toolIndex }) };
    events.push({
      event: "content_block_start",
      data: { type: "content_block_start", index, content_block: block },
    });
  };
  const delta = (body: Record<string, unknown>): StreamEvent => ({
    event: "content_block_delta",
    data: { type: "content_block_delta", index, delta: body },
  });

  return {
    /** `message_start` with the prompt's size, when known, then a `ping` as Anthropic sends one. */
    start(inputTokens: number): StreamEvent[] {
      const message = {
        id: identity.id,
        type: "message",
        role: "assistant",
        model: identity.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: inputTokens,
          output_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
        },
      };
      return [
        { event: "message_start", data: { type: "message_start", message } },
        { event: "ping", data: { type: "ping" } },
      ];
    },

    /** The events that carry one part; `evidence` rides on `message_delta`. */
    toEvents(part: ChatStreamPart, evidence: () => WireEvidence): StreamEvent[] {
      const events: StreamEvent[] = [];
      switch (part.type) {
        case "reasoning-delta":
          if (part.text === "") break;
          if (open?.type !== "thinking") start(events, { type: "thinking", thinking: "", signature: "" });
          open!.thinking += part.text;
          events.push(delta({ type: "thinking_delta", thinking: part.text }));
          break;
        case "text-delta":
          if (part.text === "") break;
          if (open?.type !== "text") start(events, { type: "text", text: "" });
          events.push(delta({ type: "text_delta", text: part.text }));
          break;
        case "tool-call-delta":
          if (open?.type !== "tool_use" || open.toolIndex !== part.index) {
            start(events, { type: "tool_use", id: part.id, name: part.name, input: {} }, part.index);
            streamedCalls.add(part.index);
          }
          if (part.argumentsDelta !== "")
            events.push(delta({ type: "input_json_delta", partial_json: part.argumentsDelta }));
          break;
        case "tool-call":
          if (open?.type === "tool_use" && open.toolIndex === part.index) close(events);
          else if (!streamedCalls.has(part.index)) {
            const block: ContentBlock = {
              type: "tool_use",
              id: part.call.id,
              name: part.call.name,
              input: {},
            };
            start(events, block, part.index);
            events.push(delta({ type: "input_json_delta", partial_json: part.call.arguments }));
            close(events);
          }
          break;
        case "finish": {
          close(events);
          const usage = toAnthropicUsage(part.usage);
          events.push({
            event: "message_delta",
            data: {
              type: "message_delta",
              delta: {
                stop_reason: toStopReason(part, identity.contextLimited),
                stop_sequence: part.stopSequence ?? null,
              },
              usage,
              bastion: evidence(),
            },
          });
          events.push({ event: "message_stop", data: { type: "message_stop" } });
          break;
        }
      }
      return events;
    },
  };
}
