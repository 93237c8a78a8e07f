import { Ollama } from "ollama";
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
 * The Ollama dialect against scripted answers, for what random weights cannot be made to do on cue:
 * a tool call under `auto`, an error in the middle of a stream, a full queue. The translation of
 * requests into core requests is checked on what the backend received.
 */

const backend = createScriptedBackend({
  id: "org/scripted",
  async *script(request, signal): AsyncIterable<ChatStreamPart> {
    const prompt = request.messages.at(-1)?.content ?? "";
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
    if (request.tools !== undefined) {
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
      yield { type: "finish", finishReason: "tool_calls", usage: defaultUsage };
      return;
    }
    yield { type: "reasoning-delta", text: "Hmm." };
    yield { type: "text-delta", text: "Bon" };
    if (prompt === "fail") throw new BastionError("upstream_error", "The upstream model went away.");
    yield { type: "text-delta", text: "jour" };
    yield {
      type: "finish",
      finishReason: "stop",
      usage: defaultUsage,
      timings: { queueMs: 1, promptMs: 2, generationMs: 3 },
    };
  },
});

let server: RunningServer;
let ollama: Ollama;
beforeAll(async () => {
  server = await startServer(createApp({ registry: createStaticRegistry([backend]) }));
  ollama = new Ollama({ host: server.url });
});
afterAll(async () => {
  await server.close();
});

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("Ollama wire format on scripted answers", () => {
  it("returns tool calls with object arguments, streamed and not", async () => {
    const response = await ollama.chat({
      model: "org/scripted",
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
    });
    expect(response.message.tool_calls).toEqual([
      { id: "call_1", function: { index: 0, name: "get_weather", arguments: { city: "Paris" } } },
    ]);
    expect(response.message.content).toBe("");
    expect(response.done_reason).toBe("stop");
    const stream = await ollama.chat({
      model: "org/scripted",
      messages: [{ role: "user", content: "Weather?" }],
      tools: [weatherTool],
      stream: true,
    });
    const calls = [];
    for await (const chunk of stream) calls.push(...(chunk.message.tool_calls ?? []));
    // One whole call, not one per argument delta.
    expect(calls).toEqual([
      { id: "call_1", function: { index: 0, name: "get_weather", arguments: { city: "Paris" } } },
    ]);
  });

  it("reports the engine's counts and timings in nanoseconds", async () => {
    const response = await ollama.chat({
      model: "org/scripted",
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(response).toMatchObject({
      prompt_eval_count: defaultUsage.promptTokens,
      eval_count: defaultUsage.completionTokens,
      prompt_eval_duration: 2_000_000,
      eval_duration: 3_000_000,
    });
    expect(response.total_duration).toBeGreaterThanOrEqual(response.load_duration);
  });

  it("ends a broken stream with an error line, and the client throws it", async () => {
    const raw = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      body: JSON.stringify({ model: "org/scripted", messages: [{ role: "user", content: "fail" }] }),
    });
    expect(raw.status).toBe(200);
    const lines = (await raw.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toEqual({ error: "The upstream model went away." });
    expect(lines.some((line) => line.done === true)).toBe(false);
    const stream = await ollama.generate({ model: "org/scripted", prompt: "fail", stream: true });
    let text = "";
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.response;
    })().catch((caught: unknown) => caught);
    expect(text).toBe("Bon");
    expect(String(error)).toMatch(/upstream model went away/);
  });

  it("aborts the backend call when the client goes away mid-stream", async () => {
    const stream = await ollama.chat({
      model: "org/scripted",
      messages: [{ role: "user", content: "slow" }],
      stream: true,
    });
    const ended = (async () => {
      for await (const chunk of stream) {
        expect(chunk.message.content).toBe("Bon");
        stream.abort();
      }
    })();
    // The client reports its own abort as an AbortError.
    await expect(ended).rejects.toThrow(/abort/i);
    const call = backend.calls.at(-1)!;
    expect(call.request.messages.at(-1)?.content).toBe("slow");
    await vi.waitFor(() => expect(call.signal.aborted).toBe(true), { timeout: 10_000 });
  });

  it("applies the body limit before anything reads the body", async () => {
    const app = createApp({ registry: createStaticRegistry([backend]), maxBodyBytes: 256 });
    const body = JSON.stringify({
      model: "org/scripted",
      messages: [{ role: "user", content: "x".repeat(300) }],
    });
    const response = await app.request("/api/chat", { method: "POST", body });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: "The request body exceeds the limit of 256 bytes." });
  });

  it("answers Ollama's probe on / when no web app serves it", async () => {
    const app = createApp({ registry: createStaticRegistry([backend]), web: false });
    const probe = await app.request("/");
    expect(probe.status).toBe(200);
    expect(await probe.text()).toBe("Ollama is running");
    expect((await app.request("/", { method: "HEAD" })).status).toBe(200);
    // The web app, when served, keeps `/`.
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).not.toBe("Ollama is running");
  });

  it("answers a refusal before the first part with its status", async () => {
    const raw = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      body: JSON.stringify({ model: "org/scripted", messages: [{ role: "user", content: "queue" }] }),
    });
    expect(raw.status).toBe(503);
    expect(await raw.json()).toEqual({ error: "All sequences are busy; retry shortly." });
  });

  it("translates options, format, think and tool history into the core request", async () => {
    await ollama.chat({
      model: "org/scripted",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather in Paris and Berlin?" },
        {
          role: "assistant",
          content: "<think>Two calls.</think>",
          tool_calls: [
            { function: { name: "get_weather", arguments: { city: "Paris" } } },
            { function: { name: "get_weather", arguments: { city: "Berlin" } } },
          ],
        },
        { role: "tool", content: "21", tool_name: "get_weather" },
        { role: "tool", content: "17", tool_name: "get_weather" },
        { role: "user", content: "Hi" },
      ],
      format: { type: "object", properties: { answer: { type: "string" } } },
      think: "high",
      options: {
        temperature: 0.2,
        top_p: 0.9,
        top_k: 20,
        seed: 7,
        num_predict: 33,
        stop: ["\n\n"],
        num_ctx: 99999,
      },
    });
    const request = backend.calls.at(-1)!.request;
    expect(request.sampling).toEqual({ temperature: 0.2, topP: 0.9, topK: 20, seed: 7 });
    expect(request.maxTokens).toBe(33);
    expect(request.stop).toEqual(["\n\n"]);
    expect(request.reasoningEffort).toBe("high");
    expect(request.responseFormat).toMatchObject({ type: "json_schema", schema: { type: "object" } });
    const assistant = request.messages[2] as {
      content: string;
      reasoning?: string;
      toolCalls?: { id: string }[];
    };
    expect(assistant.content).toBe("");
    expect(assistant.reasoning).toBe("Two calls.");
    const ids = assistant.toolCalls!.map((call) => call.id);
    expect(new Set(ids).size).toBe(2);
    // Each result answers the oldest call still open, in order.
    expect(request.messages.slice(3, 5)).toEqual([
      { role: "tool", content: "21", toolCallId: ids[0] },
      { role: "tool", content: "17", toolCallId: ids[1] },
    ]);

    await ollama.generate({ model: "org/scripted", prompt: "Hi", think: false, format: "json" });
    const generated = backend.calls.at(-1)!.request;
    expect(generated.messages).toEqual([{ role: "user", content: "Hi" }]);
    expect(generated.maxReasoningTokens).toBe(0);
    expect(generated.responseFormat).toEqual({ type: "json_object" });
  });
});
