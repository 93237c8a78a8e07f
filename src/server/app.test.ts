import { describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { createScriptedBackend, createStaticRegistry } from "./testing/scripted-backend.ts";

function setup(options: { ready?: boolean; maxBodyBytes?: number } = {}) {
  const chat = createScriptedBackend({ id: "org/chat-model:q8_0", aliases: ["chat"] });
  const embedder = createScriptedBackend({ id: "embedder", embeddings: true, capabilities: { chat: false } });
  const registry = createStaticRegistry([chat, embedder], () =>
    options.ready === false ? { ready: false, reason: "loading org/chat-model" } : { ready: true },
  );
  return createApp(
    options.maxBodyBytes === undefined ? { registry } : { registry, maxBodyBytes: options.maxBodyBytes },
  );
}

function postJson(app: ReturnType<typeof setup>, path: string, body: unknown) {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function expectError(response: Response, status: number, code: string, param: string | null = null) {
  expect(response.status).toBe(status);
  const body = await response.json();
  expect(body).toEqual({ error: { message: expect.any(String), type: expect.any(String), param, code } });
  return body.error as { message: string };
}

describe("models", () => {
  it("lists models with their metadata in snake_case, without file paths", async () => {
    const body = await (await setup().request("/v1/models")).json();
    expect(body.object).toBe("list");
    expect(body.data[0]).toMatchObject({
      id: "org/chat-model:q8_0",
      object: "model",
      created: 1_700_000_000,
      owned_by: "bastion",
      aliases: ["chat"],
      context_length: 4096,
      architecture: "qwen2",
      quantization: "Q8_0",
      parameter_count: 1_500_000_000,
      loaded: true,
      synthetic: true,
      warning: "random weights",
      capabilities: { chat: true, reasoning: true, tools: true, json_schema: true, embeddings: false },
    });
    expect(JSON.stringify(body)).not.toContain("/secret/");
  });

  it("retrieves a model whose id holds '/' and ':', raw or percent-encoded, and by alias", async () => {
    const app = setup();
    for (const path of [
      "/v1/models/org/chat-model:q8_0",
      "/v1/models/org%2Fchat-model%3Aq8_0",
      "/v1/models/chat",
    ]) {
      const response = await app.request(path);
      expect(response.status).toBe(200);
      expect((await response.json()).id).toBe("org/chat-model:q8_0");
    }
  });

  it("answers 404 model_not_found listing the available ids", async () => {
    const error = await expectError(
      await setup().request("/v1/models/nope"),
      404,
      "model_not_found",
      "model",
    );
    expect(error.message).toContain("org/chat-model:q8_0, embedder");
  });
});

describe("embeddings", () => {
  it("returns float vectors and usage", async () => {
    const response = await postJson(setup(), "/v1/embeddings", { model: "embedder", input: ["ab", "c"] });
    expect(await response.json()).toEqual({
      object: "list",
      data: [
        { object: "embedding", index: 0, embedding: [2, 1, -0.5] },
        { object: "embedding", index: 1, embedding: [1, 1, -0.5] },
      ],
      model: "embedder",
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
  });

  it("encodes base64 as little-endian float32", async () => {
    const body = await (
      await postJson(setup(), "/v1/embeddings", {
        model: "embedder",
        input: "abc",
        encoding_format: "base64",
      })
    ).json();
    const bytes = Buffer.from(body.data[0].embedding, "base64");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect([0, 1, 2].map((index) => view.getFloat32(index * 4, true))).toEqual([3, 1, -0.5]);
  });

  it("refuses token arrays, wrong dimensions, empty input and models without embeddings", async () => {
    const app = setup();
    await expectError(
      await postJson(app, "/v1/embeddings", { model: "embedder", input: [[1, 2]] }),
      400,
      "unsupported_parameter",
      "input[0]",
    );
    await expectError(
      await postJson(app, "/v1/embeddings", { model: "embedder", input: "x", dimensions: 8 }),
      400,
      "unsupported_parameter",
      "dimensions",
    );
    await expectError(
      await postJson(app, "/v1/embeddings", { model: "embedder", input: [] }),
      400,
      "invalid_request",
      "input",
    );
    const error = await expectError(
      await postJson(app, "/v1/embeddings", { model: "chat", input: "x" }),
      400,
      "unsupported_parameter",
      "model",
    );
    expect(error.message).toMatch(/does not support embeddings/);
  });

  it("refuses chat on an embedding-only model", async () => {
    const response = await postJson(setup(), "/v1/chat/completions", {
      model: "embedder",
      messages: [{ role: "user", content: "x" }],
    });
    await expectError(response, 400, "unsupported_parameter", "model");
  });
});

describe("probes", () => {
  it("answers /health always and /ready from the registry", async () => {
    expect(await (await setup({ ready: false }).request("/health")).json()).toEqual({ status: "ok" });
    expect((await setup().request("/ready")).status).toBe(200);
    const notReady = await setup({ ready: false }).request("/ready");
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: "not_ready", reason: "loading org/chat-model" });
  });
});

describe("HTTP edges", () => {
  it("answers unknown routes with a 404 in the OpenAI shape", async () => {
    await expectError(await setup().request("/v1/nothing"), 404, "not_found");
  });

  it("answers a wrong method with 405 and Allow", async () => {
    const response = await setup().request("/v1/chat/completions");
    expect(response.headers.get("allow")).toBe("POST");
    await expectError(response, 405, "method_not_allowed");
    await expectError(await setup().request("/v1/models", { method: "DELETE" }), 405, "method_not_allowed");
  });

  it("answers CORS preflight and exposes the request id", async () => {
    const response = await setup().request("/v1/chat/completions", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-headers")).toMatch(/authorization/);
  });

  it("echoes a valid x-request-id and generates one otherwise, errors included", async () => {
    const app = setup();
    const echoed = await app.request("/health", { headers: { "x-request-id": "abc-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("abc-123");
    const generated = await app.request("/v1/nothing", { headers: { origin: "https://app.example" } });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("refuses bodies over the limit with 413", async () => {
    const app = setup({ maxBodyBytes: 1000 });
    const response = await postJson(app, "/v1/chat/completions", {
      model: "chat",
      messages: [{ role: "user", content: "x".repeat(2000) }],
    });
    await expectError(response, 413, "payload_too_large");
  });

  it("refuses a non-JSON content type with 415, malformed JSON with 400 invalid_json", async () => {
    const app = setup();
    const wrongType = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{}",
    });
    await expectError(wrongType, 415, "unsupported_media_type");
    const truncated = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"model": "chat", "messages": [',
    });
    await expectError(truncated, 400, "invalid_json");
  });

  it("names the missing model and the unknown one", async () => {
    const app = setup();
    const messages = [{ role: "user", content: "x" }];
    await expectError(
      await postJson(app, "/v1/chat/completions", { messages }),
      400,
      "invalid_request",
      "model",
    );
    await expectError(
      await postJson(app, "/v1/chat/completions", { model: "ghost", messages }),
      404,
      "model_not_found",
      "model",
    );
  });
});
