import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { createApp } from "./app.ts";
import { createScriptedBackend, createStaticRegistry, defaultUsage } from "./testing/scripted-backend.ts";
import { type RunningServer, startServer } from "./testing/start-server.ts";

/*
 * Cancellation through a real socket: when the client goes away, the AbortSignal handed to the
 * backend must fire at once, since that is what frees the llama.cpp sequence.
 */

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

let cleanups = 0;
const backend = createScriptedBackend({
  async *script(request, signal): AsyncIterable<ChatStreamPart> {
    try {
      const mode = request.messages[0]?.content;
      if (mode === "stream-then-hang") yield { type: "text-delta", text: "first" };
      // Stands for a long generation (or a wait in the queue) that only an abort ends.
      await untilAborted(signal);
      yield { type: "finish", finishReason: "cancelled", usage: defaultUsage };
    } finally {
      cleanups += 1;
    }
  },
});

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(createApp({ registry: createStaticRegistry([backend]) }));
});
afterAll(async () => {
  await server.close();
});

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function post(content: string, stream: boolean, signal: AbortSignal): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "test-model", stream, messages: [{ role: "user", content }] }),
    signal,
  });
}

describe("client disconnect", () => {
  it("aborts the backend signal when a streaming client cancels mid-stream", async () => {
    const before = backend.calls.length;
    const client = new AbortController();
    const response = await post("stream-then-hang", true, client.signal);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("first");
    const call = backend.calls[before]!;
    expect(call.signal.aborted).toBe(false);
    const started = Date.now();
    client.abort();
    await waitFor(() => call.signal.aborted);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("aborts the backend signal when a streaming client leaves before the first token", async () => {
    const before = backend.calls.length;
    const client = new AbortController();
    const pending = post("hang", true, client.signal).catch(() => undefined);
    await waitFor(() => backend.calls.length > before);
    const call = backend.calls[before]!;
    client.abort();
    await waitFor(() => call.signal.aborted);
    await pending;
  });

  it("aborts the backend signal when a non-streaming client disconnects", async () => {
    const before = backend.calls.length;
    const cleanupsBefore = cleanups;
    const client = new AbortController();
    const pending = post("hang", false, client.signal).catch(() => undefined);
    await waitFor(() => backend.calls.length > before);
    const call = backend.calls[before]!;
    client.abort();
    await waitFor(() => call.signal.aborted);
    await waitFor(() => cleanups > cleanupsBefore);
    await pending;
  });

  it("keeps serving after the aborts", async () => {
    const response = await fetch(`${server.url}/health`);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});

describe("client disconnect with a chunked request body", () => {
  it("still aborts the backend signal (the body-limit middleware rebuilds the request)", async () => {
    const before = backend.calls.length;
    const client = new AbortController();
    const body = new TextEncoder().encode(
      JSON.stringify({ model: "test-model", stream: true, messages: [{ role: "user", content: "hang" }] }),
    );
    const init: RequestInit & { duplex: "half" } = {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(body);
          controller.close();
        },
      }),
      duplex: "half",
      signal: client.signal,
    };
    const pending = fetch(`${server.url}/v1/chat/completions`, init).catch(() => undefined);
    await waitFor(() => backend.calls.length > before);
    const call = backend.calls[before]!;
    client.abort();
    await waitFor(() => call.signal.aborted);
    await pending;
  });
});
