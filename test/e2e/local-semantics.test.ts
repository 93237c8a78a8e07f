import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scriptedChain } from "../../src/models/scripted.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

// Regression tests for issue 6, section 1 (exact semantics), each named after the bug it pins.
let server: TestServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer({
    models: [
      { id: "tiny", preset: "tiny", parallel: 2 },
      { id: "scripted", preset: "scripted", parallel: 1 },
      { id: "tiny-single", preset: "tiny", parallel: 1, maxQueue: 2 },
      { id: "tiny-embed", preset: "tiny", parallel: 1 },
    ],
  });
  client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
});

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", enum: ["Paris", "Berlin", "Lisbon"] },
        unit: { enum: ["c", "f"] },
      },
      required: ["city", "unit"],
    },
  },
};
const noteTool = {
  type: "function" as const,
  function: {
    name: "write_note",
    description: "Writes a note",
    parameters: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  },
};
const verdictFormat = {
  type: "json_schema" as const,
  json_schema: {
    name: "verdict",
    schema: {
      type: "object",
      properties: { verdict: { enum: ["yes", "no"] } },
      required: ["verdict"],
      additionalProperties: false,
    },
  },
};
const messages = [{ role: "user" as const, content: "Weather in Paris?" }];

describe("forced tool calls", () => {
  it("show the model the tools in its own format, as auto does (was 9 prompt tokens against 273)", async () => {
    const counts: Record<string, number> = {};
    for (const choice of ["auto", "required", "none"] as const) {
      const completion = await client.chat.completions.create({
        model: "tiny",
        messages,
        tools: [weatherTool],
        tool_choice: choice,
        max_tokens: 1,
      });
      counts[choice] = completion.usage!.prompt_tokens;
    }
    expect(counts.required).toBe(counts.auto);
    expect(counts.auto).toBeGreaterThan(counts.none! + 40);
  });

  it("stream the call's id and name at once and its arguments as deltas", async () => {
    const stream = await client.chat.completions.create({
      model: "tiny",
      messages,
      tools: [weatherTool, noteTool],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      max_tokens: 64,
      temperature: 0,
      // tiny runs the DeepSeek template: without this it would think (gibberish) before calling.
      max_reasoning_tokens: 0,
      stream: true,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    const deltas: Array<{ id?: string; name?: string; arguments?: string }> = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
        expect(delta.index).toBe(0);
        deltas.push({
          ...(delta.id === undefined ? {} : { id: delta.id }),
          ...(delta.function?.name === undefined ? {} : { name: delta.function.name }),
          ...(delta.function?.arguments === undefined ? {} : { arguments: delta.function.arguments }),
        });
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas[0]!.id).toMatch(/^call_/);
    expect(deltas[0]!.name).toBe("get_weather");
    // Only the first delta names the call; the rest carry arguments only.
    expect(deltas.slice(1).every((delta) => delta.id === undefined && delta.name === undefined)).toBe(true);
    const args = JSON.parse(deltas.map((delta) => delta.arguments ?? "").join("")) as { city: string };
    expect(["Paris", "Berlin", "Lisbon"]).toContain(args.city);
    expect(finish).toBe("tool_calls");
  });

  it("cut by max_tokens come back as a tool call with partial arguments and finish_reason length, never as content", async () => {
    const request = {
      model: "tiny",
      messages,
      tools: [noteTool],
      tool_choice: "required" as const,
      max_tokens: 16,
      temperature: 0,
      max_reasoning_tokens: 0,
    };
    const completion = await client.chat.completions.create(
      request as OpenAI.ChatCompletionCreateParamsNonStreaming,
    );
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe("length");
    expect(choice.message.content ?? "").toBe("");
    const call = choice.message.tool_calls?.[0];
    expect(call?.type === "function" && call.function.name).toBe("write_note");
    if (call?.type !== "function") throw new Error("expected a function call");
    expect(call.function.arguments.startsWith("{")).toBe(true);
    expect(() => JSON.parse(call.function.arguments)).toThrow();
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(16);

    const stream = await client.chat.completions.create({
      ...request,
      stream: true,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let content = "";
    let argumentsText = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? [])
        argumentsText += delta.function?.arguments ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(content).toBe("");
    expect(finish).toBe("length");
    expect(argumentsText).toBe(call.function.arguments);
  });

  it("let a reasoning model think before the call", async () => {
    const completion = await client.chat.completions.create({
      model: "scripted",
      messages: [{ role: "user", content: "Bonjour ?" }],
      tools: [weatherTool],
      tool_choice: "required",
      max_tokens: 60,
      temperature: 0,
    });
    const message = completion.choices[0]!.message as { reasoning_content?: string; content: string | null };
    expect(message.reasoning_content).toBe(scriptedChain.thoughtText);
    expect(message.content ?? "").toBe("");
    expect(completion.choices[0]!.message.tool_calls?.length).toBeGreaterThan(0);
  });
});

describe("response_format together with tools on auto", () => {
  it("is honoured: text the model writes instead of a call follows the format (was ignored)", async () => {
    const completion = await client.chat.completions.create({
      model: "scripted",
      messages: [{ role: "user", content: "Bonjour ?" }],
      tools: [weatherTool],
      response_format: verdictFormat,
      max_tokens: 60,
      temperature: 0,
    });
    const message = completion.choices[0]!.message as { reasoning_content?: string; content: string | null };
    // The scripted model never calls a tool; its answer text is the constrained part.
    expect(message.reasoning_content).toBe(scriptedChain.thoughtText);
    expect(JSON.parse(message.content ?? "")).toMatchObject({ verdict: expect.stringMatching(/^(yes|no)$/) });
  });

  it("holds on a model that does not think: a call, or text in the format", async () => {
    for (const seed of [1, 2, 3]) {
      const completion = await client.chat.completions.create({
        model: "tiny",
        messages,
        tools: [weatherTool],
        response_format: verdictFormat,
        max_tokens: 48,
        seed,
      });
      const choice = completion.choices[0]!;
      if (choice.message.tool_calls?.length) continue;
      if (choice.finish_reason === "stop")
        expect(() => JSON.parse(choice.message.content ?? "")).not.toThrow();
      else expect(choice.message.content?.trimStart().startsWith("{")).toBe(true);
    }
  });
});

describe("max_tokens is a hard cap, reasoning included (a reasoning model returned 7 for 6)", () => {
  it("never lets completion_tokens exceed max_tokens, whatever the mode", async () => {
    const modes = {
      plain: {},
      json: { response_format: verdictFormat },
      forced: { tools: [weatherTool], tool_choice: "required" as const },
      toolsAndFormat: { tools: [weatherTool], response_format: verdictFormat },
    };
    for (const [mode, extra] of Object.entries(modes)) {
      for (const maxTokens of [1, 3, 6, 9, 12]) {
        const completion = await client.chat.completions.create({
          model: "scripted",
          messages: [{ role: "user", content: "Bonjour ?" }],
          temperature: 0,
          max_tokens: maxTokens,
          ...extra,
        });
        expect({ mode, maxTokens, used: completion.usage!.completion_tokens <= maxTokens }).toEqual({
          mode,
          maxTokens,
          used: true,
        });
      }
    }
  });
});

describe("queued streams and embeddings", () => {
  it("gives a stream waiting in the queue its headers and a keep-alive comment at once", async () => {
    const body = (maxTokens: number) =>
      JSON.stringify({
        model: "tiny-single",
        messages: [{ role: "user", content: "Talk." }],
        max_tokens: maxTokens,
        max_reasoning_tokens: 0,
        stream: true,
      });
    const post = (payload: string, signal: AbortSignal) =>
      fetch(`${server.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: payload,
        signal,
      });
    const busy = new AbortController();
    const running = await post(body(2000), busy.signal);
    const reader = running.body!.getReader();
    await reader.read(); // the one slot is generating now
    const queued = new AbortController();
    try {
      const waiting = await post(body(4), queued.signal);
      expect(waiting.status).toBe(200);
      expect(waiting.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const first = await waiting.body!.getReader().read();
      expect(new TextDecoder().decode(first.value)).toMatch(/^: waiting for a generation slot/);
    } finally {
      queued.abort();
      busy.abort();
      await reader.cancel().catch(() => {});
    }
  });

  it("refuses a wrong embeddings dimensions before loading the model or embedding anything", async () => {
    expect(server.platform.pool.isLoaded("tiny-embed")).toBe(false);
    const response = await fetch(`${server.baseUrl}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny-embed", input: "bonjour", dimensions: 7 }),
    });
    expect(response.status).toBe(400);
    const error = ((await response.json()) as { error: { param: string; message: string } }).error;
    expect(error.param).toBe("dimensions");
    expect(error.message).toMatch(/have 64 dimensions/);
    expect(server.platform.pool.isLoaded("tiny-embed")).toBe(false);
  });
});
