import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/database.ts";
import { type AuthFixture, chatBody, startAuthFixture } from "./test-setup.ts";

describe("logs", () => {
  let store: Store;
  let fixture: AuthFixture;
  let logs = "";
  beforeAll(async () => {
    store = await openStore({ sqlitePath: ":memory:" });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    // Debug level: the most a log can hold, including refused requests' messages.
    fixture = await startAuthFixture({ store, logger: pino({ level: "debug" }, sink) });
  });
  afterAll(async () => {
    await fixture?.close();
    await store?.destroy();
  });

  it("never contain keys, passwords or session ids, on success or refusal", async () => {
    const password = "planted-password-5d1c";
    const user = await (
      await fixture.request("/admin/v1/users", {
        key: fixture.adminKey,
        body: { email: "log@example.com", password },
      })
    ).json();
    const key = await (
      await fixture.request("/admin/v1/keys", {
        key: fixture.adminKey,
        body: { name: "planted", user_id: user.id },
      })
    ).json();
    await fixture.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
    await fixture.request("/v1/chat/completions", { key: `${key.secret}x`, body: chatBody() });
    await fixture.request("/api/chat", {
      headers: { "x-api-key": key.secret.replace(/.$/, "A") },
      body: chatBody(),
    });
    await fixture.request("/auth/login", {
      body: { email: "log@example.com", password: `${password}-wrong` },
    });
    const login = await fixture.request("/auth/login", { body: { email: "log@example.com", password } });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    const session = cookie.split("=")[1]!;
    expect(session.length).toBeGreaterThan(20);
    await fixture.request("/v1/chat/completions", { headers: { cookie }, body: chatBody() });
    await fixture.request(`/admin/v1/keys/${key.id}/revoke`, { method: "POST", key: fixture.adminKey });
    await fixture.request("/v1/models", { key: key.secret });

    expect(logs).toContain('"path":"/v1/chat/completions"');
    for (const planted of [key.secret, key.secret.slice(18), fixture.adminKey.slice(18), password, session]) {
      expect(logs).not.toContain(planted);
    }
  });
});
