import { describe, expect, it } from "vitest";
import { fromZodError } from "../error-response.ts";
import { chatCompletionRequestSchema, splitThought, toChatRequest } from "./chat-schema.ts";

function convert(body: Record<string, unknown>) {
  return toChatRequest(chatCompletionRequestSchema.parse({ model: "m", ...body }));
}

function refusal(body: Record<string, unknown>) {
  const result = chatCompletionRequestSchema.safeParse({ model: "m", ...body });
  if (result.success) throw new Error("expected the request to be refused");
  const error = fromZodError(result.error);
  return { code: error.code, param: error.param, message: error.message };
}

describe("toChatRequest", () => {
  it("maps roles, text parts and tool messages", () => {
    const request = convert({
      messages: [
        { role: "developer", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "Hello" },
            { type: "text", text: "there" },
          ],
          name: "alice",
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: [{ type: "text", text: "42" }] },
      ],
    });
    expect(request.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello\nthere" },
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "f", arguments: '{"a":1}' }] },
      { role: "tool", content: "42", toolCallId: "call_1" },
    ]);
  });

  it("moves reasoning out of assistant content, from every form clients send", () => {
    const request = convert({
      messages: [
        { role: "user", content: "q" },
        { role: "assistant", content: "<think>secret plan</think>\n\nThe answer." },
        { role: "assistant", content: "hidden</think>Shown." },
        { role: "assistant", content: "A", reasoning_content: "rc" },
        { role: "assistant", content: "B", reasoning: "r" },
        { role: "assistant", content: "C <think>unfinished" },
      ],
    });
    expect(request.messages.slice(1)).toEqual([
      { role: "assistant", content: "The answer.", reasoning: "secret plan" },
      { role: "assistant", content: "Shown.", reasoning: "hidden" },
      { role: "assistant", content: "A", reasoning: "rc" },
      { role: "assistant", content: "B", reasoning: "r" },
      { role: "assistant", content: "C", reasoning: "unfinished" },
    ]);
    for (const message of request.messages) expect(message.content).not.toContain("think>");
  });

  it("leaves content without thought tags untouched", () => {
    expect(splitThought("  plain  ")).toEqual({ content: "  plain  ", reasoning: "" });
  });

  it("maps sampling, limits, stop, formats, tools and reasoning options", () => {
    const request = convert({
      messages: [{ role: "user", content: "hi" }],
      temperature: 0.5,
      top_p: 0.9,
      seed: 7,
      presence_penalty: 1,
      frequency_penalty: -1,
      max_tokens: 100,
      max_completion_tokens: 50,
      stop: "END",
      response_format: {
        type: "json_schema",
        json_schema: { name: "x", schema: { type: "object" }, strict: true },
      },
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      reasoning_effort: "minimal",
      unknown_future_field: { anything: true },
      temperature_unit: null,
    });
    expect(request).toEqual({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      sampling: { temperature: 0.5, topP: 0.9, seed: 7, presencePenalty: 1, frequencyPenalty: -1 },
      maxTokens: 50,
      stop: ["END"],
      responseFormat: { type: "json_schema", name: "x", schema: { type: "object" }, strict: true },
      tools: [{ name: "get_weather", parameters: { type: "object" } }],
      toolChoice: { name: "get_weather" },
      reasoningEffort: "low",
    });
  });

  it("maps reasoning_effort none to a zero budget, and an explicit budget wins", () => {
    expect(
      convert({ messages: [{ role: "user", content: "x" }], reasoning_effort: "none" }).maxReasoningTokens,
    ).toBe(0);
    const both = convert({
      messages: [{ role: "user", content: "x" }],
      reasoning_effort: "high",
      max_reasoning_tokens: 9,
    });
    expect(both.reasoningEffort).toBe("high");
    expect(both.maxReasoningTokens).toBe(9);
  });

  it("treats null as not given", () => {
    const request = convert({
      messages: [{ role: "user", content: "x" }],
      temperature: null,
      stop: null,
      tools: null,
    });
    expect(request).toEqual({ model: "m", messages: [{ role: "user", content: "x" }], sampling: {} });
  });
});

describe("chatCompletionRequestSchema refusals", () => {
  const messages = [{ role: "user", content: "hi" }];

  it("names the field path of a wrong type inside messages", () => {
    expect(refusal({ messages: [{ role: "user", content: 5 }] })).toMatchObject({
      code: "invalid_request",
      param: "messages[0].content",
    });
    expect(refusal({ messages: [{ role: "user", content: [{ type: "text", text: 3 }] }] }).param).toBe(
      "messages[0].content[0].text",
    );
  });

  it("refuses images with a clear message", () => {
    const result = refusal({
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }],
    });
    expect(result).toMatchObject({ code: "unsupported_parameter", param: "messages[0].content[0].type" });
    expect(result.message).toMatch(/Images are not supported/);
  });

  it("refuses unsupported or invalid options", () => {
    expect(refusal({ messages, n: 2 })).toMatchObject({ code: "unsupported_parameter", param: "n" });
    expect(refusal({ messages, logprobs: true })).toMatchObject({
      code: "unsupported_parameter",
      param: "logprobs",
    });
    expect(refusal({ messages, temperature: 5 }).param).toBe("temperature");
    expect(refusal({ messages, top_p: 0 }).param).toBe("top_p");
    expect(refusal({ messages, max_tokens: 0 }).param).toBe("max_tokens");
    expect(refusal({ messages, max_tokens: 1.5 }).param).toBe("max_tokens");
    expect(refusal({ messages, stop: ["a", "b", "c", "d", "e"] }).param).toBe("stop");
    expect(refusal({ messages: [] }).param).toBe("messages");
    expect(refusal({ messages: [{ role: "wizard", content: "x" }] }).param).toBe("messages[0].role");
    expect(refusal({ messages: [{ role: "tool", content: "x" }] }).param).toBe("messages[0].tool_call_id");
    expect(refusal({ messages, tool_choice: { type: "function", function: { name: "nope" } } }).param).toBe(
      "tool_choice.function.name",
    );
    expect(
      refusal({ messages, tools: [{ type: "function", function: { name: "f", parameters: [] } }] }).param,
    ).toBe("tools[0].function.parameters");
  });

  it("says which parameter is missing", () => {
    const result = chatCompletionRequestSchema.safeParse({ messages });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(fromZodError(result.error).message).toBe("Missing required parameter: 'model'.");
  });
});
