import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, streamText, tool } from "ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { createApp } from "./app.ts";
import { createScriptedBackend, createStaticRegistry, defaultUsage } from "./testing/scripted-backend.ts";
import { type RunningServer, startServer } from "./testing/start-server.ts";

/*
 * The official clients parse what the wire layer sends. The scripted backend answers a request
 * with tools by calling the first one, and any other request with reasoning then text.
 */

const backend = createScriptedBackend({
  id: "org/test-model",
  async *script(request): AsyncIterable<ChatStreamPart> {
    const first = request.tools?.[0];
    if (first !== undefined) {
      yield {
        type: "tool-call",
        index: 0,
        call: { id: "call_1", name: first.name, arguments: '{"city":"Paris"}' },
      };
      yield { type: "finish", finishReason: "tool_calls", usage: defaultUsage };
      return;
    }
    yield { type: "reasoning-delta", text: "Thinking." };
    yield { type: "text-delta", text: "Bon" };
    yield { type: "text-delta", text: "jour" };
    yield { type: "finish", finishReason: "stop", usage: defaultUsage };
  },
});

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(createApp({ registry: createStaticRegistry([backend]) }));
});
afterAll(async () => {
  await server.close();
});

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("official openai client", () => {
  const client = () => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });

  it("reads a completion, a stream with usage, tool calls and models", async () => {
    const completion = await client().chat.completions.create({
      model: "org/test-model",
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe("Bonjour");
    expect(completion.usage?.completion_tokens_details?.reasoning_tokens).toBe(2);

    const stream = await client().chat.completions.create({
      model: "org/test-model",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Bonjour");
    expect(usage).toMatchObject({ total_tokens: 12 });

    const runner = client().chat.completions.stream({
      model: "org/test-model",
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      id: "call_1",
      type: "function",
      function: { name: "get_weather", arguments: '{"city":"Paris"}' },
    });

    const model = await client().models.retrieve("org/test-model");
    expect(model.id).toBe("org/test-model");
    const error = await client()
      .models.retrieve("missing")
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
  });
});

describe("Vercel AI SDK (openai-compatible)", () => {
  const provider = () => createOpenAICompatible({ name: "bastion", baseURL: `${server.url}/v1` });

  it("streams reasoning and text apart, and reads tool calls", async () => {
    const result = streamText({ model: provider()("org/test-model"), prompt: "Hi" });
    let text = "";
    let reasoning = "";
    for await (const part of result.fullStream) {
      if (part.type === "text-delta") text += part.text;
      if (part.type === "reasoning-delta") reasoning += part.text;
    }
    expect(text).toBe("Bonjour");
    expect(reasoning).toBe("Thinking.");

    const called = await generateText({
      model: provider()("org/test-model"),
      prompt: "Weather?",
      tools: {
        get_weather: tool({
          inputSchema: jsonSchema<{ city: string }>(weatherTool.function.parameters),
        }),
      },
    });
    expect(called.toolCalls[0]).toMatchObject({ toolName: "get_weather", input: { city: "Paris" } });
    expect(called.finishReason).toBe("tool-calls");
  });
});
