import { describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../../core/chat.ts";
import type { WireEvidence } from "../evidence.ts";
import { anthropicErrorType } from "./anthropic-error.ts";
import { createEventWriter, thinkingSignature, toStopReason } from "./messages-response.ts";

const usage = { promptTokens: 10, completionTokens: 6, reasoningTokens: 2, cachedPromptTokens: 4 };
const evidence = (): WireEvidence => ({
  backend: "b",
  jurisdiction: { country: "FR", zone: "EU", operator: "o" },
  policy: { name: "p", data_class: "public", action: "allow", detections: {}, summary: "" },
});

function eventsOf(parts: ChatStreamPart[], contextLimited = false) {
  const writer = createEventWriter({ id: "msg_1", model: "m", contextLimited });
  return parts.flatMap((part) => writer.toEvents(part, evidence));
}

describe("Anthropic event writer", () => {
  it("opens one block per run of parts, signs thoughts, and closes before the next", () => {
    const events = eventsOf([
      { type: "reasoning-delta", text: "Hm" },
      { type: "reasoning-delta", text: "m." },
      { type: "text-delta", text: "" },
      { type: "text-delta", text: "Hi" },
      { type: "tool-call-delta", index: 0, id: "c0", name: "f", argumentsDelta: '{"a":' },
      { type: "tool-call-delta", index: 1, id: "c1", name: "g", argumentsDelta: "{}" },
      // The whole call 0 arrives after call 1 began: its block was streamed already.
      { type: "tool-call", index: 0, call: { id: "c0", name: "f", arguments: '{"a":1}' } },
      { type: "tool-call", index: 1, call: { id: "c1", name: "g", arguments: "{}" } },
      { type: "finish", finishReason: "tool_calls", usage },
    ]);
    const summary = events.map(({ data }) => {
      const delta = data.delta as { type?: string; stop_reason?: string } | undefined;
      const block = data.content_block as { type: string } | undefined;
      const detail = block?.type ?? delta?.type ?? delta?.stop_reason;
      return [data.type, data.index, detail].filter((x) => x !== undefined).join(":");
    });
    expect(summary).toEqual([
      "content_block_start:0:thinking",
      "content_block_delta:0:thinking_delta",
      "content_block_delta:0:thinking_delta",
      "content_block_delta:0:signature_delta",
      "content_block_stop:0",
      "content_block_start:1:text",
      "content_block_delta:1:text_delta",
      "content_block_stop:1",
      "content_block_start:2:tool_use",
      "content_block_delta:2:input_json_delta",
      "content_block_stop:2",
      "content_block_start:3:tool_use",
      "content_block_delta:3:input_json_delta",
      "content_block_stop:3",
      "message_delta:tool_use",
      "message_stop",
    ]);
    expect(events[3]!.data.delta).toEqual({ type: "signature_delta", signature: thinkingSignature("Hmm.") });
    expect(events.at(-2)!.data.usage).toEqual({
      input_tokens: 6,
      output_tokens: 6,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 4,
    });
  });

  it("maps finish reasons to stop reasons", () => {
    const finish = (finishReason: "stop" | "length" | "tool_calls", stopSequence?: string) => ({
      type: "finish" as const,
      finishReason,
      usage,
      ...(stopSequence === undefined ? {} : { stopSequence }),
    });
    expect(toStopReason(finish("stop"), false)).toBe("end_turn");
    expect(toStopReason(finish("stop", "END"), false)).toBe("stop_sequence");
    expect(toStopReason(finish("length"), false)).toBe("max_tokens");
    expect(toStopReason(finish("length"), true)).toBe("model_context_window_exceeded");
    expect(toStopReason(finish("tool_calls"), false)).toBe("tool_use");
  });
});

describe("Anthropic error types", () => {
  it("follows the status, including codes other modules add", () => {
    expect(anthropicErrorType(400)).toBe("invalid_request_error");
    expect(anthropicErrorType(401)).toBe("authentication_error");
    expect(anthropicErrorType(402)).toBe("billing_error");
    expect(anthropicErrorType(403)).toBe("permission_error");
    expect(anthropicErrorType(404)).toBe("not_found_error");
    expect(anthropicErrorType(413)).toBe("request_too_large");
    expect(anthropicErrorType(429)).toBe("rate_limit_error");
    expect(anthropicErrorType(503)).toBe("overloaded_error");
    expect(anthropicErrorType(422)).toBe("invalid_request_error");
    expect(anthropicErrorType(500)).toBe("api_error");
    expect(anthropicErrorType(502)).toBe("api_error");
  });
});
