import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { hashApiKey } from "./api-keys.ts";
import { type AuthFixture, chatBody, startAuthFixture } from "./test-setup.ts";

describe.each(testDatabases())("auth over HTTP on $name", ({ open }) => {
  let store: Store;
  let fixture: AuthFixture;
  beforeAll(async () => {
    store = await open();
    fixture = await startAuthFixture({ store });
  });
  afterAll(async () => {
    await fixture?.close();
    await store?.destroy();
  });

  it("answers 401 in each dialect's error shape when the key is missing or wrong", async () => {
    const openai = await fixture.request("/v1/chat/completions", { body: chatBody() });
    expect(openai.status).toBe(401);
    expect(await openai.json()).toEqual({
      error: {
        message: expect.stringContaining("Missing API key"),
        type: "authentication_error",
        param: null,
        code: "unauthorized",
      },
    });
    const ollama = await fixture.request("/api/chat", { body: chatBody(), key: "bst_live_abcdefgh_wrong" });
    expect(ollama.status).toBe(401);
    expect(await ollama.json()).toEqual({ error: expect.stringContaining("Invalid API key") });
    const anthropic = await fixture.request("/v1/messages", {
      body: { model: "chat", max_tokens: 5, messages: [] },
      headers: { "x-api-key": "nope" },
    });
    expect(anthropic.status).toBe(401);
    expect(await anthropic.json()).toEqual({
      type: "error",
      error: { type: "authentication_error", message: expect.stringContaining("Invalid API key") },
    });
    const admin = await fixture.request("/admin/v1/keys");
    expect(admin.status).toBe(401);
    expect((await admin.json()).error.code).toBe("unauthorized");
    // Health stays open for probes.
    expect((await fixture.request("/health")).status).toBe(200);
  });

  it("serves a chat with a valid key, and stores only the key's SHA-256", async () => {
    const created = await (
      await fixture.request("/admin/v1/keys", { key: fixture.adminKey, body: { name: "app" } })
    ).json();
    expect(created.secret).toMatch(/^bst_live_[a-z2-7]{8}_[\w-]{43}$/);
    expect(created.prefix).toBe(`${created.secret.slice(0, 17)}…`);
    const ok = await fixture.request("/v1/chat/completions", { key: created.secret, body: chatBody() });
    expect(ok.status).toBe(200);
    expect((await ok.json()).choices[0].message.content).toBe("Hello world");
    const row = await store.db
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", created.id)
      .executeTakeFirstOrThrow();
    expect(row.hash).toBe(hashApiKey(created.secret));
    expect(JSON.stringify(row)).not.toContain(created.secret.slice(18));
    const listed = await (
      await fixture.request(`/admin/v1/keys/${created.id}`, { key: fixture.adminKey })
    ).json();
    expect(listed.secret).toBeUndefined();
    expect(JSON.stringify(listed)).not.toContain(created.secret.slice(18));
  });
});
