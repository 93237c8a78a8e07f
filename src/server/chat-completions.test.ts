import { describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { createApp } from "./app.ts";
import { parseSseData } from "./testing/parse-sse.ts";
import {
  type ChatScript,
  createScriptedBackend,
  createStaticRegistry,
  defaultUsage,
} from "./testing/scripted-backend.ts";

function setup(script?: ChatScript) {
  const backend = createScriptedBackend(
    script === undefined ? { aliases: ["alias"] } : { aliases: ["alias"], script },
  );
  const app = createApp({ registry: createStaticRegistry([backend]), version: "1.2.3" });
  const post = (body: unknown) =>
    app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return { app, backend, post };
}

const messages = [{ role: "user", content: "hi" }];

function scripted(parts: ChatStreamPart[]): ChatScript {
  return async function* () {
    yield* parts;
  };
}

const finish = (finishReason: "stop" | "tool_calls" = "stop"): ChatStreamPart => ({
  type: "finish",
  finishReason,
  usage: defaultUsage,
});

async function streamEvents(response: Response): Promise<string[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return parseSseData(await response.text());
}

describe("POST /v1/chat/completions, not streamed", () => {
  it("returns a chat.completion with reasoning apart from content, usage and timings", async () => {
    const { post, backend } = setup();
    const response = await post({ model: "alias", messages, max_tokens: 10 });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "test-model",
      system_fingerprint: "fp_bastion_1.2.3",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hello world", reasoning_content: "Let me think." },
          finish_reason: "stop",
        },
      ],
      usage: {
        prompt_tokens: 7,
        completion_tokens: 5,
        total_tokens: 12,
        completion_tokens_details: { reasoning_tokens: 2 },
        prompt_tokens_details: { cached_tokens: 3 },
      },
      timings: { queue_ms: 1, prompt_ms: 2, generation_ms: 3 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(typeof body.created).toBe("number");
    expect(backend.calls[0]?.request.maxTokens).toBe(10);
    expect(backend.calls[0]?.signal).toBeInstanceOf(AbortSignal);
  });

  it("returns tool calls with null content and no reasoning_content when there is none", async () => {
    const { post } = setup(
      scripted([
        { type: "tool-call", index: 1, call: { id: "call_b", name: "g", arguments: "{}" } },
        { type: "tool-call", index: 0, call: { id: "call_a", name: "f", arguments: '{"x":1}' } },
        finish("tool_calls"),
      ]),
    );
    const body = await (
      await post({ model: "test-model", messages, tools: [{ type: "function", function: { name: "f" } }] })
    ).json();
    expect(body.choices[0]).toMatchObject({
      message: {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_a", type: "function", function: { name: "f", arguments: '{"x":1}' } },
          { id: "call_b", type: "function", function: { name: "g", arguments: "{}" } },
        ],
      },
      finish_reason: "tool_calls",
    });
    expect(body.choices[0].message).not.toHaveProperty("reasoning_content");
    expect(body).not.toHaveProperty("timings");
  });

  it("maps a queue_full error to 503 with Retry-After", async () => {
    const { post } = setup(async function* () {
      yield* [];
      throw new BastionError("queue_full", "The queue is full.", { retryAfterSeconds: 2.2 });
    });
    const response = await post({ model: "test-model", messages });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("3");
    expect(await response.json()).toEqual({
      error: { message: "The queue is full.", type: "server_error", param: null, code: "queue_full" },
    });
  });

  it("maps an unexpected error to a 500 that leaks nothing", async () => {
    const { post } = setup(async function* () {
      yield* [];
      throw new Error("secret internal detail at /home/x");
    });
    const response = await post({ model: "test-model", messages });
    expect(response.status).toBe(500);
    const body = await response.json();
    expect(body.error.code).toBe("internal_error");
    expect(JSON.stringify(body)).not.toContain("secret");
    expect(body.error.message).toContain(response.headers.get("x-request-id"));
  });
});

describe("POST /v1/chat/completions, streamed", () => {
  it("streams role, reasoning, content, finish, usage, then [DONE]", async () => {
    const { post } = setup();
    const events = await streamEvents(
      await post({ model: "test-model", messages, stream: true, stream_options: { include_usage: true } }),
    );
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
    const ids = new Set(chunks.map((chunk) => chunk.id));
    expect(ids.size).toBe(1);
    for (const chunk of chunks) expect(chunk.object).toBe("chat.completion.chunk");
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", reasoning_content: "Let me " });
    const deltas = chunks.slice(0, -1).map((chunk) => chunk.choices[0].delta);
    expect(deltas.map((delta) => delta.reasoning_content ?? "").join("")).toBe("Let me think.");
    expect(deltas.map((delta) => delta.content ?? "").join("")).toBe("Hello world");
    const finishChunk = chunks.at(-2);
    expect(finishChunk.choices[0].finish_reason).toBe("stop");
    expect(finishChunk.timings).toEqual({ queue_ms: 1, prompt_ms: 2, generation_ms: 3 });
    expect(finishChunk.usage).toBeNull();
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 });
  });

  it("sends no usage chunk unless asked", async () => {
    const { post } = setup();
    const events = await streamEvents(await post({ model: "test-model", messages, stream: true }));
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
    for (const chunk of chunks) {
      expect(chunk).not.toHaveProperty("usage");
      expect(chunk.choices).toHaveLength(1);
    }
  });

  it("streams tool calls with index, id, type, name and arguments", async () => {
    const { post } = setup(
      scripted([
        { type: "tool-call", index: 0, call: { id: "call_1", name: "f", arguments: '{"a":1}' } },
        finish("tool_calls"),
      ]),
    );
    const events = await streamEvents(await post({ model: "test-model", messages, stream: true }));
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
    expect(chunks[0].choices[0].delta).toEqual({
      role: "assistant",
      tool_calls: [
        { index: 0, id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } },
      ],
    });
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("turns an error after the headers into a final error event and [DONE]", async () => {
    const { post } = setup(async function* () {
      yield { type: "text-delta", text: "partial" };
      throw new BastionError("context_length_exceeded", "The context is full (4096 of 4096 tokens).");
    });
    const events = await streamEvents(await post({ model: "test-model", messages, stream: true }));
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2) ?? "")).toEqual({
      error: {
        message: "The context is full (4096 of 4096 tokens).",
        type: "invalid_request_error",
        param: null,
        code: "context_length_exceeded",
      },
    });
  });

  it("reports an error before the first part with a real HTTP status", async () => {
    const { post } = setup(async function* () {
      yield* [];
      throw new BastionError("model_too_large", "The model does not fit in memory.");
    });
    const response = await post({ model: "test-model", messages, stream: true });
    expect(response.status).toBe(503);
    expect((await response.json()).error.code).toBe("model_too_large");
  });

  it("reports a backend that ends without a finish part", async () => {
    const { post } = setup(scripted([{ type: "text-delta", text: "x" }]));
    const events = await streamEvents(await post({ model: "test-model", messages, stream: true }));
    expect(JSON.parse(events.at(-2) ?? "").error.code).toBe("internal_error");
  });
});
