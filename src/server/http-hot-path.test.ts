import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { createApp } from "./app.ts";
import { createScriptedBackend, createStaticRegistry, defaultUsage } from "./testing/scripted-backend.ts";
import { type RunningServer, startServer } from "./testing/start-server.ts";

/*
 * The HTTP hot path over a real socket (node-server), where its shortcuts apply: a JSON answer
 * with a string body, a declared Content-Length checked without a web Request, SSE parts that
 * share writes only when they are already there.
 */

let releaseSecond: () => void = () => {};
const secondAsked = new Promise<void>((resolve) => {
  releaseSecond = resolve;
});

async function* slowScript(): AsyncIterable<ChatStreamPart> {
  yield { type: "text-delta", text: "first" };
  // Held until the client has read the first token: a stream that buffered would never get it.
  await secondAsked;
  yield { type: "text-delta", text: "second" };
  yield { type: "finish", finishReason: "stop", usage: defaultUsage };
}

const maxBodyBytes = 2000;
let server: RunningServer;

beforeAll(async () => {
  const registry = createStaticRegistry([
    createScriptedBackend({ id: "chat" }),
    createScriptedBackend({ id: "slow", script: slowScript }),
  ]);
  server = await startServer(createApp({ registry, web: false, maxBodyBytes }));
});

afterAll(async () => {
  await server.close();
});

const messages = [{ role: "user", content: "Bonjour" }];

function post(body: BodyInit, init: { chunked?: boolean } = {}) {
  const payload =
    init.chunked === true
      ? new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(String(body)));
            controller.close();
          },
        })
      : body;
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: "https://app.example" },
    body: payload,
    ...(init.chunked === true ? { duplex: "half" } : {}),
  } as RequestInit);
}

describe("HTTP hot path over a socket", () => {
  it("sends a JSON answer with its length and the CORS, request-id and evidence headers", async () => {
    const response = await post(JSON.stringify({ model: "chat", messages }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toMatch(/^\d+$/);
    expect(response.headers.get("transfer-encoding")).toBeNull();
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-expose-headers")).toContain("x-bastion-backend");
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]!.message.content).toBe("Hello world");
  });

  it("refuses a body over the limit with 413 whether its length is declared or chunked", async () => {
    const big = JSON.stringify({ model: "chat", messages: [{ role: "user", content: "x".repeat(3000) }] });
    for (const chunked of [false, true]) {
      const response = await post(big, { chunked });
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    }
    const small = await post(JSON.stringify({ model: "chat", messages }), { chunked: true });
    expect(small.status).toBe(200);
    await small.text();
  });

  it("refuses malformed JSON read from the socket with 400 invalid_json", async () => {
    const response = await post('{"model": "chat", "messages": [');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
  });

  it("streams a token before the backend produces the next one, then the rest and [DONE]", async () => {
    const response = await post(JSON.stringify({ model: "slow", messages, stream: true }));
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes('"first"')) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the stream ended before its first token: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    expect(text).not.toContain('"second"');
    releaseSecond();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const events = text
      .split("\n\n")
      .filter((event) => event.startsWith("data: "))
      .map((event) => event.slice("data: ".length));
    expect(events.at(-1)).toBe("[DONE]");
    const contents = events
      .slice(0, -1)
      .map((event) => JSON.parse(event) as { choices: Array<{ delta: { content?: string } }> })
      .flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? ""))
      .join("");
    expect(contents).toBe("firstsecond");
  });
});
