import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ChatStreamPart } from "../../src/core/chat.ts";
import { BastionError } from "../../src/core/errors.ts";
import { createApp } from "../../src/server/app.ts";
import {
  createScriptedBackend,
  createStaticRegistry,
  defaultUsage,
} from "../../src/server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../../src/server/testing/start-server.ts";

/*
 * The Anthropic dialect against scripted answers: tool calls streamed as argument deltas, an error
 * in the middle of a stream, a full queue, and the translation of blocks into core messages.
 */

const backend = createScriptedBackend({
  id: "org/scripted",
  async *script(request, signal): AsyncIterable<ChatStreamPart> {
    const last = request.messages.at(-1);
    const prompt = last?.content ?? "";
    if (prompt === "queue") throw new BastionError("queue_full", "All sequences are busy; retry shortly.");
    if (prompt === "slow") {
      yield { type: "text-delta", text: "Bon" };
      // Holds the sequence until the server aborts the call, as the engine would.
      await new Promise((resolve) => {
        if (signal.aborted) resolve(undefined);
        else signal.addEventListener("abort", resolve, { once: true });
      });
      throw signal.reason;
    }
    if (request.tools !== undefined && last?.role === "user") {
      yield { type: "text-delta", text: "Let me check." };
      yield {
        type: "tool-call-delta",
        index: 0,
        id: "call_1",
        name: "get_weather",
        argumentsDelta: '{"city":',
      };
      yield {
        type: "tool-call-delta",
        index: 0,
        id: "call_1",
        name: "get_weather",
        argumentsDelta: '"Paris"}',
      };
      yield {
        type: "tool-call",
        index: 0,
        call: { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      };
      // A call that arrives whole, without deltas.
      yield {
        type: "tool-call",
        index: 1,
        call: { id: "call_2", name: "get_weather", arguments: '{"city":"Lyon"}' },
      };
      yield { type: "finish", finishReason: "tool_calls", usage: defaultUsage };
      return;
    }
    yield { type: "text-delta", text: "Bon" };
    if (prompt === "fail") throw new BastionError("upstream_error", "The upstream model went away.");
    yield { type: "text-delta", text: "jour" };
    yield { type: "finish", finishReason: "stop", usage: defaultUsage };
  },
});

let server: RunningServer;
let client: Anthropic;
beforeAll(async () => {
  server = await startServer(createApp({ registry: createStaticRegistry([backend]) }));
  client = new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

const weatherTool = {
  name: "get_weather",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};

describe("Anthropic wire format on scripted answers", () => {
  it("streams text then tool_use blocks, arguments as input_json_delta", async () => {
    const stream = client.messages.stream({
      model: "org/scripted",
      max_tokens: 100,
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
    });
    const deltas: string[] = [];
    stream.on("streamEvent", (event) => {
      if (event.type === "content_block_delta" && event.delta.type === "input_json_delta") {
        deltas.push(`${event.index}:${event.delta.partial_json}`);
      }
    });
    const final = await stream.finalMessage();
    expect(deltas).toEqual(['1:{"city":', '1:"Paris"}', '2:{"city":"Lyon"}']);
    expect(final.content).toEqual([
      { type: "text", text: "Let me check." },
      { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } },
      { type: "tool_use", id: "call_2", name: "get_weather", input: { city: "Lyon" } },
    ]);
    expect(final.stop_reason).toBe("tool_use");
    const whole = await client.messages.create({
      model: "org/scripted",
      max_tokens: 100,
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
    });
    expect(whole.content).toEqual(final.content);
    // KV-cache reuse is reported as a cache read.
    expect(whole.usage).toMatchObject({
      input_tokens: defaultUsage.promptTokens - defaultUsage.cachedPromptTokens,
      cache_read_input_tokens: defaultUsage.cachedPromptTokens,
      output_tokens: defaultUsage.completionTokens,
    });
  });

  it("ends a broken stream with an error event, which the SDK throws", async () => {
    const raw = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "org/scripted",
        max_tokens: 9,
        stream: true,
        messages: [{ role: "user", content: "fail" }],
      }),
    });
    const text = await raw.text();
    expect(text).toMatch(
      /event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"The upstream model went away."\}/,
    );
    expect(text).not.toMatch(/message_stop/);
    const stream = client.messages.stream({
      model: "org/scripted",
      max_tokens: 9,
      messages: [{ role: "user", content: "fail" }],
    });
    const error = await stream.finalMessage().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(String((error as Error).message)).toMatch(/upstream model went away/);
  });

  it("aborts the backend call when the client goes away mid-stream", async () => {
    const stream = client.messages.stream({
      model: "org/scripted",
      max_tokens: 9,
      messages: [{ role: "user", content: "slow" }],
    });
    stream.on("text", () => stream.abort());
    await stream.done().catch(() => undefined);
    const call = backend.calls.at(-1)!;
    expect(call.request.messages.at(-1)?.content).toBe("slow");
    await vi.waitFor(() => expect(call.signal.aborted).toBe(true), { timeout: 10_000 });
  });

  it("answers a full queue before the first part as 503 overloaded_error", async () => {
    const error = await client.messages
      .create({ model: "org/scripted", max_tokens: 9, messages: [{ role: "user", content: "queue" }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(503);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: "error",
      error: { type: "overloaded_error", message: "All sequences are busy; retry shortly." },
    });
  });

  it("translates system, blocks, tool results, thinking and sampling into the core request", async () => {
    await client.messages.create({
      model: "org/scripted",
      max_tokens: 300,
      system: [
        { type: "text", text: "Be brief." },
        { type: "text", text: "Answer in French." },
      ],
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "Call the tool.", signature: "x" },
            { type: "text", text: "Checking." },
            { type: "tool_use", id: "toolu_9", name: "get_weather", input: { city: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_9", content: "unknown city", is_error: true },
            { type: "text", text: "Well?" },
          ],
        },
      ],
      tools: [weatherTool],
      tool_choice: { type: "any" },
      thinking: { type: "enabled", budget_tokens: 120 },
      stop_sequences: ["END"],
      // Older SDKs and other Anthropic clients still send sampling fields; this SDK's types dropped them.
      ...{ temperature: 0.3, top_p: 0.8, top_k: 5 },
    });
    const request = backend.calls.at(-1)!.request;
    expect(request.messages).toEqual([
      { role: "system", content: "Be brief.\nAnswer in French." },
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: "Checking.",
        reasoning: "Call the tool.",
        toolCalls: [{ id: "toolu_9", name: "get_weather", arguments: '{"city":"Paris"}' }],
      },
      { role: "tool", content: "Error: unknown city", toolCallId: "toolu_9" },
      { role: "user", content: "Well?" },
    ]);
    expect(request.toolChoice).toBe("required");
    expect(request.tools).toEqual([{ name: "get_weather", parameters: weatherTool.input_schema }]);
    expect(request.maxReasoningTokens).toBe(120);
    expect(request.maxTokens).toBe(300);
    expect(request.stop).toEqual(["END"]);
    expect(request.sampling).toEqual({ temperature: 0.3, topP: 0.8, topK: 5 });

    await client.messages.create({
      model: "org/scripted",
      max_tokens: 10,
      messages: [{ role: "user", content: "Hi" }],
      tools: [weatherTool],
      tool_choice: { type: "tool", name: "get_weather" },
    });
    expect(backend.calls.at(-1)!.request.toolChoice).toEqual({ name: "get_weather" });
  });

  it("refuses count_tokens when the backend has no tokenizer", async () => {
    const error = await client.messages
      .countTokens({ model: "org/scripted", messages: [{ role: "user", content: "Hi" }] })
      .catch((caught: unknown) => caught);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(400);
    expect(String((error as Error).message)).toMatch(/cannot count tokens/);
  });
});
