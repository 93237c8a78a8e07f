import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousPrincipal } from "../core/principal.ts";
import { defaultMaxBodyBytes } from "../server/app.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { type AuthFixture, chatBody, startAuthFixture } from "./test-setup.ts";

/*
 * Regression: the body's content type was checked before the key, so a POST without a valid key
 * but with a wrong content type got 415 and learnt what the server accepts before it learnt that
 * it needs a key. A client without a valid key gets 401 in its dialect's shape, whatever it sent;
 * only the body size limit comes first (the auth middleware reads bodies for model scopes).
 */
describe.each(testDatabases())("a request without a valid key on $name", ({ open }) => {
  let store: Store;
  let fixture: AuthFixture;
  let key: string;
  beforeAll(async () => {
    store = await open();
    fixture = await startAuthFixture({ store });
    key = (await fixture.auth.admin.createKey(anonymousPrincipal, { name: "typed" })).secret;
  });
  afterAll(async () => {
    await fixture?.close();
    await store?.destroy();
  });

  const post = (path: string, contentType: string, headers: Record<string, string>, body: string) =>
    fetch(`${fixture.server.url}${path}`, {
      method: "POST",
      headers: { "content-type": contentType, ...headers },
      body,
    });
  const chat = JSON.stringify(chatBody());
  const message = JSON.stringify({
    model: "chat",
    max_tokens: 5,
    messages: [{ role: "user", content: "Hi" }],
  });

  it("gets 401 in its dialect's shape, not 415, whatever its content type", async () => {
    const openai = await post("/v1/chat/completions", "text/plain", {}, chat);
    expect(openai.status).toBe(401);
    expect(await openai.json()).toEqual({
      error: {
        message: expect.stringContaining("Missing API key"),
        type: "authentication_error",
        param: null,
        code: "unauthorized",
      },
    });
    const wrongBearer = await post(
      "/v1/chat/completions",
      "text/plain",
      { authorization: "Bearer bst_live_abcdefgh_wrong" },
      chat,
    );
    expect(wrongBearer.status).toBe(401);
    expect((await wrongBearer.json()).error.code).toBe("unauthorized");
    const anthropic = await post("/v1/messages", "text/plain", { "x-api-key": "nope" }, message);
    expect(anthropic.status).toBe(401);
    expect(await anthropic.json()).toEqual({
      type: "error",
      error: { type: "authentication_error", message: expect.stringContaining("Invalid API key") },
    });
    // Ollama takes text/plain bodies as JSON; it refuses other types.
    const ollama = await post("/api/chat", "application/xml", { authorization: "Bearer nope" }, chat);
    expect(ollama.status).toBe(401);
    expect(await ollama.json()).toEqual({ error: expect.stringContaining("Invalid API key") });
    const missing = await post("/api/chat", "application/xml", {}, chat);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: expect.stringContaining("Missing API key") });
  });

  it("still gets 413 first for a body over the size limit", async () => {
    const large = "x".repeat(defaultMaxBodyBytes + 1);
    const openai = await post("/v1/chat/completions", "text/plain", {}, large);
    expect(openai.status).toBe(413);
    await openai.arrayBuffer();
    const ollama = await post("/api/chat", "application/xml", {}, large);
    expect(ollama.status).toBe(413);
    await ollama.arrayBuffer();
  });

  it("with a valid key, gets the 415 it got before, in its dialect's shape", async () => {
    const bearer = { authorization: `Bearer ${key}` };
    const openai = await post("/v1/chat/completions", "text/plain", bearer, chat);
    expect(openai.status).toBe(415);
    expect(await openai.json()).toEqual({
      error: {
        message: "Content-Type 'text/plain' is not supported; send 'application/json'.",
        type: "invalid_request_error",
        param: null,
        code: "unsupported_media_type",
      },
    });
    const anthropic = await post("/v1/messages", "text/plain", { "x-api-key": key }, message);
    expect(anthropic.status).toBe(415);
    expect(await anthropic.json()).toEqual({
      type: "error",
      error: {
        type: "invalid_request_error",
        message: "Content-Type 'text/plain' is not supported; send 'application/json'.",
      },
      request_id: expect.any(String),
    });
    const ollama = await post("/api/chat", "application/xml", bearer, chat);
    expect(ollama.status).toBe(415);
    expect(await ollama.json()).toEqual({
      error: "Content-Type 'application/xml' is not supported; send 'application/json'.",
    });
    // And the same request as JSON is served.
    const served = await post("/v1/chat/completions", "application/json", bearer, chat);
    expect(served.status).toBe(200);
    await served.arrayBuffer();
  });
});
