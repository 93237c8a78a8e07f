import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scriptedChain } from "../../src/models/scripted.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

// One real server for the file: llama.cpp on synthetic models, driven through @anthropic-ai/sdk.
let server: TestServer;
let client: Anthropic;

beforeAll(async () => {
  server = await startTestServer({
    models: [
      { id: "tiny", preset: "tiny", parallel: 2 },
      { id: "scripted", preset: "scripted", parallel: 1 },
    ],
  });
  client = new Anthropic({ baseURL: server.baseUrl, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
});

const ask = {
  model: "scripted",
  max_tokens: 200,
  temperature: 0,
  messages: [{ role: "user" as const, content: "Bonjour ?" }],
};
const thinking = { type: "enabled" as const, budget_tokens: 100 };

const weatherTool = {
  name: "get_weather",
  description: "Current weather for a city",
  input_schema: {
    type: "object" as const,
    properties: { city: { type: "string", enum: ["Paris", "Berlin"] } },
    required: ["city"],
  },
};

describe("POST /v1/messages through @anthropic-ai/sdk", () => {
  it("answers with a signed thinking block, then text, end_turn and usage that adds up", async () => {
    const message = await client.messages.create({ ...ask, thinking });
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    expect(message.model).toBe("scripted");
    expect(message.id).toMatch(/^msg_/);
    expect(message.content.map((block) => block.type)).toEqual(["thinking", "text"]);
    const [thought, answer] = message.content as [Anthropic.ThinkingBlock, Anthropic.TextBlock];
    expect(thought.thinking).toBe(scriptedChain.thoughtText);
    expect(thought.signature.length).toBeGreaterThan(20);
    expect(answer.text).toBe(scriptedChain.answerText);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.stop_sequence).toBeNull();
    expect(message.usage.output_tokens).toBe(scriptedChain.thoughtTokens + 2 + scriptedChain.answerTokens);
    const counted = await client.messages.countTokens({
      model: "scripted",
      messages: ask.messages,
      thinking,
    });
    expect(message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0)).toBe(
      counted.input_tokens,
    );
  });

  it("does not think unless thinking is enabled", async () => {
    const message = await client.messages.create(ask);
    expect(message.content).toEqual([{ type: "text", text: scriptedChain.answerText }]);
    const disabled = await client.messages.create({ ...ask, thinking: { type: "disabled" } });
    expect(disabled.content.map((block) => block.type)).toEqual(["text"]);
  });

  it("streams Anthropic's exact event sequence", async () => {
    const stream = client.messages.stream({ ...ask, thinking });
    const events: string[] = [];
    stream.on("streamEvent", (event) => {
      const detail =
        event.type === "content_block_start"
          ? `:${event.content_block.type}`
          : event.type === "content_block_delta"
            ? `:${event.delta.type}`
            : "";
      const name = `${event.type}${detail}`;
      if (events.at(-1) !== name) events.push(name);
    });
    const final = await stream.finalMessage();
    expect(events).toEqual([
      "message_start",
      "content_block_start:thinking",
      "content_block_delta:thinking_delta",
      "content_block_delta:signature_delta",
      "content_block_stop",
      "content_block_start:text",
      "content_block_delta:text_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(final.content.map((block) => block.type)).toEqual(["thinking", "text"]);
    expect((final.content[0] as Anthropic.ThinkingBlock).thinking).toBe(scriptedChain.thoughtText);
    expect((final.content[1] as Anthropic.TextBlock).text).toBe(scriptedChain.answerText);
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.output_tokens).toBe(14);
    // The same prompt ran before: most of it is a KV-cache read now.
    expect(final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0)).toBeGreaterThan(3);
  });

  it("sends a ping and SSE event names on the raw stream, with evidence", async () => {
    const response = await fetch(`${server.baseUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ ...ask, stream: true }),
    });
    expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(response.headers.get("x-bastion-backend")).toBe("scripted");
    const text = await response.text();
    const names = [...text.matchAll(/^event: (\S+)$/gm)].map((match) => match[1]);
    expect(names.slice(0, 2)).toEqual(["message_start", "ping"]);
    expect(names.at(-1)).toBe("message_stop");
    const start = JSON.parse(/^event: message_start\ndata: (.*)$/m.exec(text)![1]!) as {
      message: { usage: { input_tokens: number } };
    };
    expect(start.message.usage.input_tokens).toBeGreaterThan(3);
    expect(text).toMatch(/"bastion":\{"backend":"scripted"/);
  });

  it("reports stop_sequence and max_tokens", async () => {
    const stopped = await client.messages.create({ ...ask, stop_sequences: [" jour"] });
    expect(stopped.stop_reason).toBe("stop_sequence");
    expect(stopped.stop_sequence).toBe(" jour");
    expect(stopped.content).toEqual([{ type: "text", text: "Bon" }]);
    const cut = await client.messages.create({
      ...ask,
      max_tokens: 4,
      thinking: { type: "enabled", budget_tokens: 2 },
    });
    expect(cut.stop_reason).toBe("max_tokens");
    expect(cut.usage.output_tokens).toBe(4);
  });

  it("forces a tool call with tool_choice 'tool' and 'any', streamed and not", async () => {
    const forced = await client.messages.create({
      model: "tiny",
      max_tokens: 64,
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [weatherTool],
      tool_choice: { type: "tool", name: "get_weather" },
    });
    expect(forced.stop_reason).toBe("tool_use");
    const use = forced.content.find((block) => block.type === "tool_use") as Anthropic.ToolUseBlock;
    expect(use.name).toBe("get_weather");
    expect(["Paris", "Berlin"]).toContain((use.input as { city: string }).city);
    expect(use.id.length).toBeGreaterThan(0);

    const stream = client.messages.stream({
      model: "tiny",
      max_tokens: 64,
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
      tool_choice: { type: "any" },
    });
    let partialJson = "";
    stream.on("inputJson", (delta) => {
      partialJson += delta;
    });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    const streamed = final.content.find((block) => block.type === "tool_use") as Anthropic.ToolUseBlock;
    expect(JSON.parse(partialJson)).toEqual(streamed.input);
    expect(["Paris", "Berlin"]).toContain((streamed.input as { city: string }).city);
  });

  it("takes tool_use and tool_result blocks back, and tool_choice 'none' calls nothing", async () => {
    const messages: Anthropic.MessageParam[] = [
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "I should call the tool.", signature: "sig" },
          { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
        ],
      },
      {
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: "toolu_1",
            content: [{ type: "text", text: '{"temperature": 21}' }],
          },
          { type: "text", text: "And now?" },
        ],
      },
    ];
    const answer = await client.messages.create({
      model: "tiny",
      max_tokens: 3,
      messages,
      tools: [weatherTool],
      tool_choice: { type: "none" },
    });
    expect(answer.content.every((block) => block.type !== "tool_use")).toBe(true);
    expect(["end_turn", "max_tokens"]).toContain(answer.stop_reason);
    const withHistory = await client.messages.countTokens({ model: "tiny", messages, tools: [weatherTool] });
    const withoutResult = await client.messages.countTokens({
      model: "tiny",
      messages: messages.slice(0, 1),
      tools: [weatherTool],
    });
    expect(withHistory.input_tokens).toBeGreaterThan(withoutResult.input_tokens + 10);
  });
});

describe("max_tokens beyond the context", () => {
  it("lowers it to the room the prompt leaves and stops with model_context_window_exceeded", async () => {
    // A prompt that leaves 6 tokens of tiny's 2048-token context.
    const words = (count: number) => Array.from({ length: count }, () => "river").join(" ");
    const base = await client.messages.countTokens({
      model: "tiny",
      messages: [{ role: "user", content: words(1000) }],
    });
    const count = 1000 + (2048 - 6 - base.input_tokens);
    const messages = [{ role: "user" as const, content: words(count) }];
    expect((await client.messages.countTokens({ model: "tiny", messages })).input_tokens).toBe(2042);
    // The SDK insists on streaming for a max_tokens this large, as Claude clients do anyway.
    const message = await client.messages
      .stream({ model: "tiny", max_tokens: 32000, messages, ...{ temperature: 0 } })
      .finalMessage();
    expect(message.stop_reason).toBe("model_context_window_exceeded");
    expect(message.usage.output_tokens).toBe(6);
  });
});

describe("POST /v1/messages/count_tokens", () => {
  it("counts the prompt with the template, system and tools", async () => {
    const bare = await client.messages.countTokens({ model: "tiny", messages: ask.messages });
    const system = await client.messages.countTokens({
      model: "tiny",
      messages: ask.messages,
      system: "Be brief.",
    });
    const systemBlocks = await client.messages.countTokens({
      model: "tiny",
      messages: ask.messages,
      system: [{ type: "text", text: "Be brief." }],
    });
    const tools = await client.messages.countTokens({
      model: "tiny",
      messages: ask.messages,
      tools: [weatherTool],
    });
    expect(bare.input_tokens).toBeGreaterThan(3);
    expect(system.input_tokens).toBeGreaterThan(bare.input_tokens);
    expect(systemBlocks.input_tokens).toBe(system.input_tokens);
    expect(tools.input_tokens).toBeGreaterThan(bare.input_tokens + 20);
    // The same count the engine reports when it answers.
    const answered = await client.messages.create({ model: "tiny", max_tokens: 1, messages: ask.messages });
    expect(answered.usage.input_tokens + (answered.usage.cache_read_input_tokens ?? 0)).toBe(
      bare.input_tokens,
    );
  });
});

describe("errors in Anthropic's shape", () => {
  async function failure(promise: Promise<unknown>) {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Anthropic.APIError);
    return error as InstanceType<typeof Anthropic.APIError>;
  }

  it("answers 404 not_found_error for an unknown model", async () => {
    const error = await failure(client.messages.create({ ...ask, model: "nope" }));
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect(error.error).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    expect(String((error.error as { error: { message: string } }).error.message)).toMatch(
      /'nope' does not exist/,
    );
    const counting = await failure(client.messages.countTokens({ model: "nope", messages: ask.messages }));
    expect(counting.status).toBe(404);
  });

  it("answers 400 invalid_request_error naming the field", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ model: "tiny", messages: ask.messages }, /max_tokens/],
      [
        { ...ask, messages: [{ role: "user", content: [{ type: "image", source: {} }] }] },
        /Images are not supported/,
      ],
      [{ ...ask, thinking: { type: "enabled", budget_tokens: 500 } }, /budget_tokens/],
      [{ ...ask, tool_choice: { type: "tool", name: "x" }, tools: [weatherTool] }, /not in 'tools'/],
      [{ ...ask, tools: [{ type: "web_search_20250305", name: "web_search" }] }, /Server tools/],
      [
        {
          ...ask,
          tools: [{ name: "f", input_schema: { type: "object", properties: { a: { anyOf: [] } } } }],
        },
        /^tools\[0\]\.input_schema\.properties\.a\.anyOf must be a non-empty array/,
      ],
      // The field at fault is in the message: Anthropic's body has no 'param'.
      [{ ...ask, messages: [{ role: "user", content: 5 }] }, /^'messages\[0\]\.content': Expected a string/],
      [{ ...ask, mcp_servers: [{ type: "url", url: "https://example.org", name: "x" }] }, /mcp_servers/],
      [{ ...ask, messages: [{ role: "system", content: "x" }] }, /'system'/],
      [{ ...ask, messages: [...ask.messages, { role: "assistant", content: "Bon" }] }, /prefill/],
    ];
    for (const [body, message] of cases) {
      const error = await failure(
        client.messages.create(body as unknown as Anthropic.MessageCreateParamsNonStreaming),
      );
      expect(error.status, JSON.stringify(body)).toBe(400);
      expect(error.error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
      expect((error.error as { error: { message: string } }).error.message).toMatch(message);
    }
  });

  it("answers bad JSON, wrong methods and content types in Anthropic's shape", async () => {
    const badJson = await fetch(`${server.baseUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    const wrongMethod = await fetch(`${server.baseUrl}/v1/messages`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(await wrongMethod.json()).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error" },
    });
    const text = await fetch(`${server.baseUrl}/v1/messages/count_tokens`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{}",
    });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });
});
