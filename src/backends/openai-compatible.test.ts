import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../../test/fake-upstream/server.ts";
import type { ChatRequest, ChatStreamPart } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { createOpenAICompatibleBackend, type OpenAICompatibleBackend } from "./openai-compatible.ts";
import { createThinkSplitter } from "./openai-compatible-think.ts";
import { upstreamErrorStatus } from "./openai-compatible-wire.ts";

let upstream: FakeUpstream;
let backend: OpenAICompatibleBackend;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  backend = createOpenAICompatibleBackend({
    id: "fake",
    baseUrl: upstream.baseUrl,
    apiKey: "sk-test-123",
    models: { small: "echo" },
    jurisdiction: { country: "FR", zone: "EU", operator: "Fake" },
    pricing: { inputPerMillion: 1, outputPerMillion: 2 },
    timeouts: { connectMs: 2_000, firstByteMs: 1_000, idleMs: 1_000 },
    maxConcurrent: 4,
  });
});

afterAll(async () => {
  await backend?.dispose();
  await upstream?.close();
});

const request = (model: string, content = "Bonjour"): ChatRequest => ({
  model,
  messages: [{ role: "user", content }],
  sampling: { temperature: 0.2 },
  maxTokens: 20,
});

async function collect(model: string, content?: string): Promise<ChatStreamPart[]> {
  const parts: ChatStreamPart[] = [];
  for await (const part of backend.chat(request(model, content), { signal: new AbortController().signal }))
    parts.push(part);
  return parts;
}

const textOf = (parts: ChatStreamPart[], type: "text-delta" | "reasoning-delta") =>
  parts
    .filter((part) => part.type === type)
    .map((part) => (part as { text: string }).text)
    .join("");

async function failure(model: string): Promise<BastionError> {
  try {
    await collect(model);
  } catch (error) {
    expect(error).toBeInstanceOf(BastionError);
    return error as BastionError;
  }
  throw new Error(`expected ${model} to fail`);
}

describe("think splitter", () => {
  it("moves a thought split anywhere across chunks to reasoning", () => {
    const text = "\n<think>Let me think.</think>\n\nBonjour !";
    for (let cut = 1; cut < text.length; cut++) {
      const splitter = createThinkSplitter();
      const pieces = [
        ...splitter.push(text.slice(0, cut)),
        ...splitter.push(text.slice(cut)),
        ...splitter.flush(),
      ];
      const reasoning = pieces.filter((piece) => piece.channel === "reasoning").map((piece) => piece.text);
      const answer = pieces.filter((piece) => piece.channel === "text").map((piece) => piece.text);
      expect(reasoning.join(""), `cut at ${cut}`).toBe("Let me think.");
      expect(answer.join(""), `cut at ${cut}`).toBe("Bonjour !");
    }
  });

  it("leaves a <think> quoted inside an answer as text", () => {
    const splitter = createThinkSplitter();
    const pieces = [...splitter.push("Use the <think> tag"), ...splitter.flush()];
    expect(pieces).toEqual([{ channel: "text", text: "Use the <think> tag" }]);
  });
});

describe("error objects inside a 200 answer", () => {
  it("name their own status when they carry one", () => {
    expect(upstreamErrorStatus({ error: { message: "too long", type: "BadRequestError", code: 400 } })).toBe(
      400,
    );
    expect(upstreamErrorStatus({ error: { message: "slow down", code: "429" } })).toBe(429);
    expect(upstreamErrorStatus({ error: { message: "x", status: 503 } })).toBe(503);
    expect(upstreamErrorStatus({ error: { message: "x", type: "invalid_request_error" } })).toBe(400);
    // A string code is a name, not a status; no error, no status.
    expect(upstreamErrorStatus({ error: { message: "x", code: "context_length_exceeded" } })).toBeUndefined();
    expect(upstreamErrorStatus({ error: "overloaded" })).toBeUndefined();
    expect(upstreamErrorStatus({ choices: [] })).toBeUndefined();
  });
});

describe("openai-compatible backend", () => {
  it("streams an answer with usage, sending the mapped model name and the key", async () => {
    const parts = await collect("small", "Salut");
    expect(textOf(parts, "text-delta")).toBe("You said: Salut");
    const finish = parts.at(-1);
    expect(finish).toMatchObject({
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 11, completionTokens: 7, reasoningTokens: 2 },
    });
    const sent = upstream.requests.at(-1)!;
    expect(sent.json).toMatchObject({ model: "echo", stream: true, temperature: 0.2, max_tokens: 20 });
    expect(sent.headers.authorization).toBe("Bearer sk-test-123");
  });

  it.each(["reasoning-content", "reasoning-field", "think-tags"])(
    "gives %s as reasoning parts",
    async (model) => {
      const parts = await collect(model, "Hi");
      expect(textOf(parts, "reasoning-delta")).toBe("Let me think.");
      expect(textOf(parts, "text-delta")).toBe("You said: Hi");
    },
  );

  it("assembles a tool call from argument deltas", async () => {
    const parts = await collect("tools", "note this");
    const call = parts.find((part) => part.type === "tool-call");
    expect(call).toMatchObject({ type: "tool-call", index: 0, call: { id: "call_1", name: "save_note" } });
    expect(JSON.parse((call as { call: { arguments: string } }).call.arguments)).toEqual({
      note: "You said: note this",
    });
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
    // Streamed unbuffered as deltas too, which add up to the whole call.
    const deltas = parts.filter((part) => part.type === "tool-call-delta");
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas[0]).toMatchObject({ index: 0, id: "call_1", name: "save_note" });
    expect(deltas.map((part) => (part as { argumentsDelta: string }).argumentsDelta).join("")).toBe(
      (call as { call: { arguments: string } }).call.arguments,
    );
  });

  it("accepts a JSON completion from an upstream that ignores stream", async () => {
    const parts = await collect("json", "Hi");
    expect(textOf(parts, "reasoning-delta")).toBe("Hmm.");
    expect(textOf(parts, "text-delta")).toBe("You said: Hi");
  });

  it.each([
    ["status-500", /HTTP 500: upstream exploded/, true],
    ["reset", /connection failed/, true],
    ["non-json", /not JSON/, true],
    ["truncated", /ended before the answer/, true],
    ["wrong-type", /content type 'text\/html'/, true],
    ["bad-json-body", /not valid JSON/, true],
    ["error-inside", /model overloaded/, true],
    ["hang", /no response headers in time/, true],
  ] as const)("turns a broken upstream (%s) into an upstream_error", async (model, message, retryable) => {
    const error = await failure(model);
    expect(error.code).toBe("upstream_error");
    expect(error.status).toBe(502);
    expect(error.message).toMatch(message);
    expect(error.isRetryable).toBe(retryable);
  });

  it("passes embeddings through", async () => {
    const result = await backend.forModel("small").embed!(["abc", "de"], {
      signal: new AbortController().signal,
    });
    expect(result.vectors.map((vector) => Array.from(vector))).toEqual([
      [3, 0.5, -1],
      [2, 0.5, -1],
    ]);
    expect(upstream.requests.at(-1)!.json).toMatchObject({ model: "echo", input: ["abc", "de"] });
  });

  it("probes health and reports a failing one", async () => {
    await expect(backend.probe()).resolves.toBeUndefined();
    upstream.healthy = false;
    await expect(backend.probe()).rejects.toThrow(/HTTP 503/);
    upstream.healthy = true;
  });
});
