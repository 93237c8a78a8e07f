import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, Output, streamText, tool } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scriptedChain } from "../../src/models/scripted.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

let server: TestServer;
let bastion: ReturnType<typeof createOpenAICompatible>;

beforeAll(async () => {
  server = await startTestServer({
    models: [
      { id: "tiny", preset: "tiny", parallel: 4 },
      { id: "scripted", preset: "scripted", parallel: 1 },
    ],
  });
  // Bastion enforces json_schema by grammar, so the SDK may send schemas rather than json_object.
  bastion = createOpenAICompatible({
    name: "bastion",
    baseURL: `${server.baseUrl}/v1`,
    includeUsage: true,
    supportsStructuredOutputs: true,
  });
});

afterAll(async () => {
  await server?.close();
});

describe("Vercel AI SDK (@ai-sdk/openai-compatible) against a real server", () => {
  it("generates text with usage", async () => {
    const result = await generateText({
      model: bastion.chatModel("tiny"),
      prompt: "Hello there",
      maxOutputTokens: 10,
    });
    expect(result.finishReason).toBe("length");
    expect(result.usage.outputTokens).toBe(10);
    expect(result.usage.inputTokens).toBeGreaterThan(0);
  });

  it("streams text", async () => {
    const result = streamText({
      model: bastion.chatModel("tiny"),
      prompt: "Stream please",
      maxOutputTokens: 12,
    });
    let deltas = 0;
    for await (const _delta of result.textStream) deltas++;
    expect(deltas).toBeGreaterThan(1);
    expect((await result.usage).outputTokens).toBe(12);
  });

  it("separates reasoning from text", async () => {
    const result = await generateText({
      model: bastion.chatModel("scripted"),
      prompt: "Bonjour ?",
      temperature: 0,
    });
    expect(result.reasoningText).toBe(scriptedChain.thoughtText);
    expect(result.text).toBe(scriptedChain.answerText);

    const streamed = streamText({
      model: bastion.chatModel("scripted"),
      prompt: "Bonjour ?",
      temperature: 0,
    });
    let reasoning = "";
    let text = "";
    for await (const part of streamed.fullStream) {
      if (part.type === "reasoning-delta") reasoning += part.text;
      if (part.type === "text-delta") text += part.text;
    }
    expect(reasoning).toBe(scriptedChain.thoughtText);
    expect(text).toBe(scriptedChain.answerText);
  });

  it("returns a tool call the SDK parses against the tool's schema", async () => {
    const result = await generateText({
      model: bastion.chatModel("tiny"),
      prompt: "What's the weather in Lisbon?",
      maxOutputTokens: 64,
      toolChoice: "required",
      tools: {
        weather: tool({
          description: "Weather for a city",
          inputSchema: jsonSchema<{ city: "Paris" | "Lisbon" }>({
            type: "object",
            properties: { city: { type: "string", enum: ["Paris", "Lisbon"] } },
            required: ["city"],
            additionalProperties: false,
          }),
        }),
      },
    });
    expect(result.finishReason).toBe("tool-calls");
    expect(result.toolCalls).toHaveLength(1);
    const call = result.toolCalls[0]!;
    expect(call.toolName).toBe("weather");
    expect(["Paris", "Lisbon"]).toContain((call.input as { city: string }).city);
  });

  it("produces structured output that validates", async () => {
    const result = await generateText({
      model: bastion.chatModel("tiny"),
      prompt: "Rate this.",
      maxOutputTokens: 64,
      output: Output.object({
        schema: jsonSchema<{ stars: 1 | 2 | 3; fine: boolean }>({
          type: "object",
          properties: { stars: { enum: [1, 2, 3] }, fine: { type: "boolean" } },
          required: ["stars", "fine"],
          additionalProperties: false,
        }),
      }),
    });
    expect([1, 2, 3]).toContain(result.output.stars);
    expect(typeof result.output.fine).toBe("boolean");
  });
});
