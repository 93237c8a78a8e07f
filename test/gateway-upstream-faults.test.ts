import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config/config.ts";
import type { ModelRegistry } from "../src/core/backend.ts";
import type { CompletedRequest } from "../src/core/request-record.ts";
import { createGatewayFromConfig } from "../src/gateway/create-from-config.ts";
import type { Gateway } from "../src/gateway/gateway.ts";
import { createApp } from "../src/server/app.ts";
import { parseSseData } from "../src/server/testing/parse-sse.ts";
import { type RunningServer, startServer } from "../src/server/testing/start-server.ts";

/*
 * Upstreams that break in the middle of an answer, end it oddly, or cut characters across TCP
 * writes, in front of the real gateway over real HTTP. A non-stream request has sent nothing to its
 * client until the whole upstream answer is read, so a failure anywhere in it is retried and falls
 * back like one before the first byte; a stream keeps its contract (an error event after the first
 * byte). The scripted upstream acts by the model name it is asked for.
 */

const noLocalModels: ModelRegistry = {
  list: async () => [],
  get: () => undefined,
  readiness: () => ({ ready: true }),
};

const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

function chunk(delta: Record<string, unknown>, finish: string | null = null, withUsage = false): string {
  return `data: ${JSON.stringify({
    id: "chatcmpl-scripted",
    object: "chat.completion.chunk",
    created: 1,
    model: "scripted",
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(withUsage ? { usage } : {}),
  })}\n\n`;
}

function completion(content: string, finish: string | null = "stop"): string {
  return JSON.stringify({
    id: "chatcmpl-scripted",
    object: "chat.completion",
    model: "scripted",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finish }],
    usage,
  });
}

function lastUserText(json: Record<string, unknown> | undefined): string {
  const messages = Array.isArray(json?.messages)
    ? (json.messages as Array<{ role: string; content: unknown }>)
    : [];
  const user = [...messages].reverse().find((message) => message.role === "user");
  return typeof user?.content === "string" ? user.content : "";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Scripted {
  baseUrl: string;
  calls(model: string): number;
  /** Bodies the upstream received, in order. */
  bodies: string[];
  close(): Promise<void>;
}

/** Writes `bytes` in pieces of `size` bytes, a few milliseconds apart, so that each is its own TCP read. */
async function writeInPieces(response: ServerResponse, bytes: Buffer, size: number): Promise<void> {
  for (let start = 0; start < bytes.length; start += size) {
    response.write(bytes.subarray(start, start + size));
    await sleep(2);
  }
}

async function startScripted(): Promise<Scripted> {
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const bodies: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const body: Buffer[] = [];
    request.on("data", (data: Buffer) => body.push(data));
    request.on("end", () => {
      const text = Buffer.concat(body).toString("utf8");
      bodies.push(text);
      const json = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
      const model = typeof json?.model === "string" ? json.model : "echo";
      const count = (counts.get(model) ?? 0) + 1;
      counts.set(model, count);
      void respond(model, count, json, request, response);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function respond(
    model: string,
    count: number,
    json: Record<string, unknown> | undefined,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const echo = `You said: ${lastUserText(json)}`;
    const sse = () => response.writeHead(200, { "content-type": "text/event-stream" });
    const jsonHead = (length?: number) =>
      response.writeHead(200, {
        "content-type": "application/json",
        ...(length === undefined ? {} : { "content-length": String(length) }),
      });
    const resetMidStream = async () => {
      sse();
      response.write(chunk({ content: "Partial " }));
      response.write(chunk({ content: "answer" }));
      await sleep(20);
      request.socket.destroy();
    };
    switch (model) {
      case "echo":
        sse();
        for (const piece of echo.match(/.{1,5}/gsu) ?? []) response.write(chunk({ content: piece }));
        response.write(chunk({}, "stop", true));
        response.end("data: [DONE]\n\n");
        return;
      case "sse-reset":
        return resetMidStream();
      case "sse-reset-once":
        if (count === 1) return resetMidStream();
        return respond("echo", count, json, request, response);
      case "sse-no-finish":
        // Truncated: text, then the body ends with neither finish_reason nor [DONE].
        sse();
        response.write(chunk({ content: "Half an ans" }));
        response.end();
        return;
      case "sse-error-event":
        sse();
        response.write(chunk({ content: "Partial" }));
        response.end(
          `data: ${JSON.stringify({ error: { message: "model overloaded", type: "server_error" } })}\n\n`,
        );
        return;
      case "sse-no-done":
        // A whole answer with usage, but the body ends without [DONE].
        sse();
        response.write(chunk({ content: echo }));
        response.write(chunk({}, "stop"));
        response.end(`data: ${JSON.stringify({ id: "chatcmpl-scripted", choices: [], usage })}\n\n`);
        return;
      case "sse-unterminated":
        // No [DONE], and the last event is not closed by a blank line.
        sse();
        response.write(chunk({ content: echo }));
        response.end(chunk({}, "stop", true).trimEnd());
        return;
      case "json-reset": {
        // Promises more bytes than it sends, then resets.
        const whole = Buffer.from(completion(echo));
        jsonHead(whole.length);
        response.write(whole.subarray(0, whole.length >> 1));
        await sleep(20);
        request.socket.destroy();
        return;
      }
      case "json-no-finish":
        jsonHead();
        response.end(completion(echo, null));
        return;
      case "json-error":
        jsonHead();
        response.end(JSON.stringify({ error: { message: "model overloaded", type: "server_error" } }));
        return;
      case "json-invalid":
        jsonHead();
        response.end(
          JSON.stringify({
            error: { message: "This model's maximum context length is 8192", type: "invalid_request_error" },
          }),
        );
        return;
      case "split-utf8": {
        // The echo, streamed as SSE in 3-byte TCP writes: every multi-byte character (é, ⟦, the
        // emoji) and the placeholder are cut somewhere.
        sse();
        const pieces = echo.match(/.{1,12}/gsu) ?? [];
        const compact = (delta: Record<string, unknown>) =>
          `data: ${JSON.stringify({ choices: [{ index: 0, delta }] })}\n\n`;
        const bytes = Buffer.from(
          `${pieces.map((piece) => compact({ content: piece })).join("")}${chunk({}, "stop", true)}data: [DONE]\n\n`,
        );
        await writeInPieces(response, bytes, 3);
        response.end();
        return;
      }
      default:
        response.writeHead(404).end();
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls: (model) => counts.get(model) ?? 0,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let upstream: Scripted;
const gateways: Gateway[] = [];
let server: RunningServer;
let circuitServer: RunningServer;
const completed: CompletedRequest[] = [];

function gatewayConfig(gateway: Record<string, unknown>, routes: Record<string, { candidates: string[] }>) {
  const timeouts = { connectMs: 1_000, firstByteMs: 2_000, idleMs: 2_000 };
  return configSchema.parse({
    backends: {
      a: {
        baseUrl: upstream.baseUrl,
        jurisdiction: { country: "FR", zone: "EU", operator: "Scripted A" },
        timeouts,
      },
      b: {
        baseUrl: upstream.baseUrl,
        jurisdiction: { country: "DE", zone: "EU", operator: "Scripted B" },
        timeouts,
      },
      us: {
        baseUrl: upstream.baseUrl,
        jurisdiction: { country: "US", zone: "other", operator: "Scripted US", extraterritorial: true },
        timeouts,
      },
    },
    routes,
    gateway: { healthIntervalSeconds: 0, ...gateway },
  });
}

beforeAll(async () => {
  upstream = await startScripted();
  const routes: Record<string, { candidates: string[] }> = {};
  for (const model of [
    "sse-reset",
    "sse-no-finish",
    "sse-error-event",
    "json-reset",
    "json-no-finish",
    "json-error",
  ])
    routes[`${model}-then-b`] = { candidates: [`a/${model}`, "b/echo"] };
  for (const model of ["sse-reset", "sse-reset-once", "sse-no-done", "sse-unterminated", "json-error"])
    routes[model] = { candidates: [`a/${model}`] };
  routes["json-invalid-then-b"] = { candidates: ["a/json-invalid", "b/echo"] };
  routes.split = { candidates: ["a/split-utf8"] };
  routes["us-split"] = { candidates: ["us/split-utf8"] };
  const gateway = createGatewayFromConfig({
    config: gatewayConfig(
      { maxAttempts: 2, initialBackoffMs: 5, maxBackoffMs: 20, breakerFailures: 50 },
      routes,
    ),
    local: noLocalModels,
    observers: [{ onCompleted: (record) => void completed.push(record) }],
  });
  gateways.push(gateway);
  server = await startServer(createApp({ registry: gateway.registry, chat: gateway, web: false }));
  // One attempt per backend and a circuit that opens after two failures: each mid-answer failure
  // must count exactly once.
  const circuit = createGatewayFromConfig({
    config: gatewayConfig(
      { maxAttempts: 1, breakerFailures: 2, breakerOpenMs: 60_000 },
      { "breaks-then-b": { candidates: ["a/sse-reset", "b/echo"] } },
    ),
    local: noLocalModels,
  });
  gateways.push(circuit);
  circuitServer = await startServer(
    createApp({ registry: circuit.registry, chat: circuit, backends: circuit, web: false }),
  );
});

afterAll(async () => {
  await server?.close();
  await circuitServer?.close();
  for (const gateway of gateways) await gateway.dispose();
  await upstream?.close();
});

interface Completion {
  choices?: Array<{ message: { content: string | null }; finish_reason: string }>;
  usage?: { prompt_tokens: number; completion_tokens: number };
  error?: { code: string; message: string };
  bastion?: { backend: string; policy: { summary: string; detections: Record<string, number> } };
}

async function ask(
  model: string,
  content: string,
  target: RunningServer = server,
): Promise<{ status: number; headers: Headers; body: Completion }> {
  const response = await fetch(`${target.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content }] }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Completion };
}

interface StreamChunk {
  choices: Array<{ delta: { content?: string }; finish_reason: string | null }>;
  usage?: unknown;
  error?: { code: string };
  bastion?: { backend: string; policy: { summary: string } };
}

async function askStream(model: string, content: string): Promise<{ status: number; events: string[] }> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content }] }),
  });
  return { status: response.status, events: parseSseData(await response.text()) };
}

const streamedText = (events: string[]) =>
  events
    .filter((event) => event !== "[DONE]")
    .map((event) => (JSON.parse(event) as StreamChunk).choices?.[0]?.delta.content ?? "")
    .join("");

describe("a non-stream request whose upstream breaks after its first byte", () => {
  it.each([
    ["sse-reset", "a reset mid-stream"],
    ["sse-no-finish", "a stream that ends without finish_reason or [DONE]"],
    ["sse-error-event", "an error object inside the stream after text"],
    ["json-no-finish", "a JSON completion without finish_reason"],
    ["json-reset", "a JSON body cut by a reset"],
    ["json-error", "an error object inside a 200 JSON body"],
  ])("%s (%s): retried once, then served by the next candidate", async (model) => {
    const before = upstream.calls(model);
    const answer = await ask(`${model}-then-b`, "Hello");
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.choices?.[0]?.message.content).toBe("You said: Hello");
    expect(answer.body.bastion?.backend).toBe("b/echo");
    expect(answer.headers.get("x-bastion-backend")).toBe("b/echo");
    // maxAttempts 2: the broken backend was tried twice (with a backoff) before the fallback.
    expect(upstream.calls(model) - before).toBe(2);
    expect(completed.at(-1)).toMatchObject({ backend: "b", status: "ok" });
    expect(completed.at(-1)!.usage.completionTokens).toBe(7);
  });

  it("falls back the same way for the Ollama and Anthropic dialects' non-stream requests", async () => {
    const before = upstream.calls("sse-reset");
    const ollama = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "sse-reset-then-b",
        stream: false,
        messages: [{ role: "user", content: "Hello" }],
      }),
    });
    expect(ollama.status).toBe(200);
    expect(((await ollama.json()) as { message: { content: string } }).message.content).toBe(
      "You said: Hello",
    );
    const anthropic = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "sse-reset-then-b",
        max_tokens: 64,
        messages: [{ role: "user", content: "Hello" }],
      }),
    });
    expect(anthropic.status).toBe(200);
    expect(((await anthropic.json()) as { content: Array<{ text: string }> }).content[0]?.text).toBe(
      "You said: Hello",
    );
    expect(upstream.calls("sse-reset") - before).toBe(4);
  });

  it("retries the same backend when the failure mid-answer is passing", async () => {
    const answer = await ask("sse-reset-once", "Hello");
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.choices?.[0]?.message.content).toBe("You said: Hello");
    expect(answer.body.bastion?.backend).toBe("a/sse-reset-once");
    expect(upstream.calls("sse-reset-once")).toBe(2);
  });

  it("answers 502 once every attempt broke, with one record", async () => {
    const before = { calls: upstream.calls("sse-reset"), records: completed.length };
    const answer = await ask("sse-reset", "Hello");
    expect(answer.status).toBe(502);
    expect(answer.body.error?.code).toBe("upstream_error");
    expect(upstream.calls("sse-reset") - before.calls).toBe(2);
    await sleep(20);
    expect(completed.slice(before.records)).toMatchObject([{ backend: "a", status: "error" }]);
  });

  it("keeps the stream contract: after the first byte a stream ends with an error event, no fallback", async () => {
    const before = upstream.calls("sse-reset");
    const { status, events } = await askStream("sse-reset-then-b", "Hello");
    expect(status).toBe(200);
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { code: "upstream_error" } });
    expect(streamedText(events.slice(0, -2))).toBe("Partial answer");
    expect(upstream.calls("sse-reset") - before).toBe(1);
  });

  it("counts a failure mid-answer once per attempt in the backend's circuit", async () => {
    const state = async () => {
      const response = await fetch(`${circuitServer.url}/admin/v1/backends`);
      const body = (await response.json()) as { data: Array<{ id: string; health: { state: string } }> };
      return body.data.find((backend) => backend.id === "a")!.health.state;
    };
    const first = await ask("breaks-then-b", "Hello", circuitServer);
    expect(first.status).toBe(200);
    expect(first.body.bastion?.backend).toBe("b/echo");
    // One failure of two: still closed (counted twice, it would be open).
    expect(await state()).toBe("closed");
    expect((await ask("breaks-then-b", "Hello", circuitServer)).status).toBe(200);
    expect(await state()).toBe("open");
    const calls = upstream.calls("sse-reset");
    const third = await ask("breaks-then-b", "Hello", circuitServer);
    expect(third.body.bastion?.backend).toBe("b/echo");
    expect(upstream.calls("sse-reset")).toBe(calls);
  });
});

describe("odd but whole upstream answers", () => {
  it("takes a stream that ends without [DONE] after its finish_reason and usage", async () => {
    const answer = await ask("sse-no-done", "Hi");
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.choices?.[0]).toMatchObject({
      message: { content: "You said: Hi" },
      finish_reason: "stop",
    });
    expect(answer.body.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7 });
    const { events } = await askStream("sse-no-done", "Hi");
    expect(events.at(-1)).toBe("[DONE]");
    expect(streamedText(events.slice(0, -1))).toBe("You said: Hi");
    expect(events.some((event) => event.includes('"error"'))).toBe(false);
  });

  it("takes a last event that the upstream did not close with a blank line", async () => {
    const answer = await ask("sse-unterminated", "Hi");
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.choices?.[0]).toMatchObject({
      message: { content: "You said: Hi" },
      finish_reason: "stop",
    });
    expect(answer.body.usage).toMatchObject({ completion_tokens: 7 });
  });

  it("answers an error object inside a 200 JSON body with a 502 that quotes it", async () => {
    const answer = await ask("json-error", "Hi");
    expect(answer.status).toBe(502);
    expect(answer.body.error?.code).toBe("upstream_error");
    expect(answer.body.error?.message).toMatch(/model overloaded/);
  });

  it("answers an invalid_request_error inside a 200 JSON body as the client's error, without fallback", async () => {
    const before = upstream.calls("json-invalid");
    const answer = await ask("json-invalid-then-b", "Hi");
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe("invalid_request");
    expect(answer.body.error?.message).toMatch(/maximum context length/);
    expect(upstream.calls("json-invalid") - before).toBe(1);
  });
});

describe("characters cut across TCP writes", () => {
  const text = "Café crème, naïve señora 🙂👩‍💻 — ⟦ ok";

  it("gives the client the right characters, streamed and not", async () => {
    const answer = await ask("split", text);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.choices?.[0]?.message.content).toBe(`You said: ${text}`);
    const { events } = await askStream("split", text);
    expect(events.at(-1)).toBe("[DONE]");
    const streamed = streamedText(events.slice(0, -1));
    expect(streamed).toBe(`You said: ${text}`);
    expect(streamed).not.toContain("\ufffd");
  });

  it("restores a placeholder whose bytes are cut across writes", async () => {
    const email = "anna.schmidt@example.de";
    const prompt = `Écris à ${email} 🙂 puis à ${email}.`;
    const answer = await ask("us-split", prompt);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(upstream.bodies.at(-1)).not.toContain(email);
    expect(upstream.bodies.at(-1)).toContain("⟦EMAIL_1⟧");
    expect(answer.body.choices?.[0]?.message.content).toBe(`You said: ${prompt}`);
    // One address written twice is one email.
    expect(answer.headers.get("x-bastion-policy")).toBe("pseudonymise; personal; 1 email pseudonymised");
    const { events } = await askStream("us-split", prompt);
    expect(streamedText(events.slice(0, -1))).toBe(`You said: ${prompt}`);
  });
});

describe("the Responses API's non-stream requests", () => {
  it("fall back after the upstream's first byte, as chat completions do", async () => {
    const { createDocuments } = await import("../src/documents/index.ts");
    const { openStore } = await import("../src/store/database.ts");
    const config = gatewayConfig(
      { maxAttempts: 1, breakerFailures: 50 },
      { "sse-reset-then-b": { candidates: ["a/sse-reset", "b/echo"] } },
    );
    const gateway = createGatewayFromConfig({ config, local: noLocalModels });
    gateways.push(gateway);
    const store = await openStore({ sqlitePath: ":memory:" });
    const documents = await createDocuments({ store, registry: gateway.registry, config });
    const target = await startServer(
      createApp({
        registry: gateway.registry,
        chat: gateway,
        web: false,
        documents,
        maxBodyBytes: config.server.maxBodyBytes,
      }),
    );
    try {
      const before = upstream.calls("sse-reset");
      const response = await fetch(`${target.url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "sse-reset-then-b", input: "Hello" }),
      });
      const body = (await response.json()) as {
        status: string;
        output: Array<{ type: string; content?: Array<{ text: string }> }>;
      };
      expect(response.status, JSON.stringify(body)).toBe(200);
      expect(body.status).toBe("completed");
      const message = body.output.find((item) => item.type === "message");
      expect(message?.content?.[0]?.text).toBe("You said: Hello");
      expect(upstream.calls("sse-reset") - before).toBe(1);
    } finally {
      await target.close();
      await documents.dispose();
      await store.destroy();
    }
  });
});
