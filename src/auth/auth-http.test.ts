import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousPrincipal } from "../core/principal.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createAdminService } from "./admin-service.ts";
import { hashApiKey } from "./api-keys.ts";
import { type AuthFixture, chatBody, startAuthFixture } from "./test-setup.ts";

describe.each(testDatabases())("auth over HTTP on $name", ({ open, openTwo }) => {
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

  it("enforces model, endpoint and policy scopes", async () => {
    const scoped = await (
      await fixture.request("/admin/v1/keys", {
        key: fixture.adminKey,
        body: {
          name: "scoped",
          scopes: {
            models: ["chat-model"],
            endpoints: ["/v1/chat/*", "/v1/models*"],
            policies: ["eu-strict"],
          },
        },
      })
    ).json();
    expect(
      (await fixture.request("/v1/chat/completions", { key: scoped.secret, body: chatBody() })).status,
    ).toBe(200);
    const otherModel = await fixture.request("/v1/chat/completions", {
      key: scoped.secret,
      body: chatBody({ model: "other-model" }),
    });
    expect(otherModel.status).toBe(404);
    expect((await otherModel.json()).error.code).toBe("model_not_found");
    const endpoint = await fixture.request("/v1/embeddings", {
      key: scoped.secret,
      body: { model: "chat-model", input: "x" },
    });
    expect(endpoint.status).toBe(403);
    expect((await endpoint.json()).error.type).toBe("permission_error");
    const policy = await fixture.request("/v1/chat/completions", {
      key: scoped.secret,
      body: chatBody(),
      headers: { "x-bastion-use-policy": "allow-all" },
    });
    expect(policy.status).toBe(403);
    const allowed = await fixture.request("/v1/chat/completions", {
      key: scoped.secret,
      body: chatBody(),
      headers: { "x-bastion-use-policy": "eu-strict" },
    });
    expect(allowed.status).toBe(200);
    // A key's own policy must exist.
    const unknownPolicy = await fixture.request("/admin/v1/keys", {
      key: fixture.adminKey,
      body: { name: "typo", policy: "eu-stritc" },
    });
    expect(unknownPolicy.status).toBe(400);
    expect((await unknownPolicy.json()).error).toMatchObject({
      param: "policy",
      message: expect.stringContaining("eu-strict"),
    });
    const withPolicy = await fixture.request("/admin/v1/keys", {
      key: fixture.adminKey,
      body: { name: "open", policy: "eu-open" },
    });
    expect(withPolicy.status).toBe(201);
    // It sees only its models.
    const listed = await (await fixture.request("/v1/models", { key: scoped.secret })).json();
    expect(listed.data.map((model: { id: string }) => model.id)).toEqual(["chat-model"]);
    expect((await fixture.request("/v1/models/chat", { key: scoped.secret })).status).toBe(200);
    const hidden = await fixture.request("/v1/models/other-model", { key: scoped.secret });
    expect(hidden.status).toBe(404);
    expect((await hidden.json()).error.code).toBe("model_not_found");
    const everything = await (await fixture.request("/v1/models", { key: fixture.adminKey })).json();
    expect(everything.data).toHaveLength(2);
    // A member key cannot use the admin API, nor can an auditor's.
    expect((await fixture.request("/admin/v1/keys", { key: scoped.secret })).status).toBe(403);
    const auditor = await (
      await fixture.request("/admin/v1/keys", {
        key: fixture.adminKey,
        body: { name: "dpo", roles: ["auditor"] },
      })
    ).json();
    for (const path of ["/admin/v1/keys", "/admin/v1/users", "/admin/v1/tenants"]) {
      const refused = await fixture.request(path, { key: auditor.secret });
      expect([path, refused.status]).toEqual([path, 403]);
      expect((await refused.json()).error.message).toContain("admin role");
    }
  });

  it("refuses an expired key and a revoked key on their very next request", async () => {
    const key = await (
      await fixture.request("/admin/v1/keys", { key: fixture.adminKey, body: { name: "short" } })
    ).json();
    expect((await fixture.request("/v1/models", { key: key.secret })).status).toBe(200);
    const past = new Date(Date.now() - 1000).toISOString();
    const patched = await fixture.request(`/admin/v1/keys/${key.id}`, {
      method: "PATCH",
      key: fixture.adminKey,
      body: { expires_at: past },
    });
    expect(patched.status).toBe(200);
    const expired = await fixture.request("/v1/models", { key: key.secret });
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.message).toContain("expired");

    const other = await (
      await fixture.request("/admin/v1/keys", { key: fixture.adminKey, body: { name: "soon revoked" } })
    ).json();
    expect((await fixture.request("/v1/models", { key: other.secret })).status).toBe(200);
    const revoked = await fixture.request(`/admin/v1/keys/${other.id}/revoke`, {
      method: "POST",
      key: fixture.adminKey,
    });
    expect((await revoked.json()).revoked_at).toEqual(expect.any(String));
    const after = await fixture.request("/v1/models", { key: other.secret });
    expect(after.status).toBe(401);
    expect((await after.json()).error.message).toContain("revoked");
  });

  it("refuses a key narrowed or revoked through another connection on its very next request", async () => {
    // As `bastion keys revoke` run in another process: the server's cached key row must not
    // outlive a change it did not make itself.
    const [first, second] = await openTwo();
    const server = await startAuthFixture({ store: first });
    try {
      const other = createAdminService(second);
      const key = await other.createKey(anonymousPrincipal, { name: "elsewhere", roles: ["admin"] });
      expect((await server.request("/admin/v1/keys", { key: key.secret })).status).toBe(200);
      expect((await server.request("/admin/v1/keys", { key: key.secret })).status).toBe(200);
      await other.updateKey(anonymousPrincipal, key.id, { scopes: { endpoints: ["/v1/*"] } });
      const narrowed = await server.request("/admin/v1/keys", { key: key.secret });
      expect(narrowed.status).toBe(403);
      expect((await narrowed.json()).error.message).toContain("may not use");
      expect((await server.request("/v1/models", { key: key.secret })).status).toBe(200);
      await other.revokeKey(anonymousPrincipal, key.id);
      const revoked = await server.request("/v1/models", { key: key.secret });
      expect(revoked.status).toBe(401);
      expect((await revoked.json()).error.message).toContain("revoked");
    } finally {
      await server.close();
      await second.destroy();
      await first.destroy();
    }
  });

  it("isolates tenants: tenant A's admin gets 404 on every object of tenant B", async () => {
    const admin = fixture.adminKey;
    for (const id of ["tenant-a", "tenant-b"]) {
      expect(
        (await fixture.request("/admin/v1/tenants", { key: admin, body: { id, name: id } })).status,
      ).toBe(201);
    }
    const keyA = await (
      await fixture.request("/admin/v1/keys", {
        key: admin,
        body: { name: "a admin", tenant_id: "tenant-a", roles: ["admin"] },
      })
    ).json();
    const userB = await (
      await fixture.request("/admin/v1/users", {
        key: admin,
        body: { tenant_id: "tenant-b", email: "b@example.com" },
      })
    ).json();
    const keyB = await (
      await fixture.request("/admin/v1/keys", { key: admin, body: { name: "b key", tenant_id: "tenant-b" } })
    ).json();
    expect(userB.tenant_id).toBe("tenant-b");
    const a = keyA.secret as string;
    const attempts: Array<[string, string, unknown?]> = [
      ["GET", "/admin/v1/tenants/tenant-b"],
      ["PATCH", "/admin/v1/tenants/tenant-b", { name: "x" }],
      ["DELETE", "/admin/v1/tenants/tenant-b"],
      ["GET", `/admin/v1/users/${userB.id}`],
      ["PATCH", `/admin/v1/users/${userB.id}`, { name: "x" }],
      ["DELETE", `/admin/v1/users/${userB.id}`],
      ["GET", `/admin/v1/keys/${keyB.id}`],
      ["PATCH", `/admin/v1/keys/${keyB.id}`, { name: "x" }],
      ["POST", `/admin/v1/keys/${keyB.id}/revoke`],
      ["GET", "/admin/v1/users?tenant_id=tenant-b"],
      ["GET", "/admin/v1/keys?tenant_id=tenant-b"],
      ["POST", "/admin/v1/users", { tenant_id: "tenant-b", email: "sneaky@example.com" }],
      ["POST", "/admin/v1/keys", { tenant_id: "tenant-b", name: "sneaky" }],
    ];
    for (const [method, path, body] of attempts) {
      const response = await fixture.request(path, {
        method,
        key: a,
        ...(body === undefined ? {} : { body }),
      });
      expect([method, path, response.status]).toEqual([method, path, 404]);
    }
    const tenants = await (await fixture.request("/admin/v1/tenants", { key: a })).json();
    expect(tenants.data.map((tenant: { id: string }) => tenant.id)).toEqual(["tenant-a"]);
    const keys = await (await fixture.request("/admin/v1/keys", { key: a })).json();
    expect(keys.data.every((key: { tenant_id: string }) => key.tenant_id === "tenant-a")).toBe(true);
    // B's objects are untouched.
    const stillThere = await (await fixture.request(`/admin/v1/keys/${keyB.id}`, { key: admin })).json();
    expect(stillThere).toMatchObject({ name: "b key", revoked_at: null });
  });

  it("signs in with a password, checks CSRF on state-changing cookie requests, signs out", async () => {
    const created = await fixture.request("/admin/v1/users", {
      key: fixture.adminKey,
      body: { email: "Ada@Example.com", name: "Ada", password: "correct horse battery", roles: ["member"] },
    });
    expect(created.status).toBe(201);
    const user = await created.json();
    expect(user).toMatchObject({ email: "ada@example.com", has_password: true });
    expect(JSON.stringify(user)).not.toContain("argon2");

    const form = await fetch(`${fixture.server.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ email: "ada@example.com", password: "correct horse battery" }),
    });
    expect(form.status).toBe(415);
    expect(form.headers.get("set-cookie")).toBeNull();
    const wrong = await fixture.request("/auth/login", {
      body: { email: "ada@example.com", password: "nope nope" },
    });
    expect(wrong.status).toBe(401);
    const login = await fixture.request("/auth/login", {
      body: { email: "ada@example.com", password: "correct horse battery" },
      headers: { "x-forwarded-proto": "https" },
    });
    expect(login.status).toBe(200);
    const cookieHeader = login.headers.get("set-cookie") ?? "";
    expect(cookieHeader).toMatch(/^bastion_session=[\w-]+;/);
    expect(cookieHeader).toMatch(/HttpOnly/);
    expect(cookieHeader).toMatch(/SameSite=Lax/);
    expect(cookieHeader).toMatch(/Secure/);
    const { user: me, csrfToken } = await login.json();
    expect(me).toMatchObject({
      email: "ada@example.com",
      name: "Ada",
      tenantId: "default",
      roles: ["member"],
    });
    const cookie = cookieHeader.split(";")[0]!;
    const token = cookie.split("=")[1]!;
    const stored = await store.db.selectFrom("sessions").selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(token);

    const meResponse = await fixture.request("/auth/me", { headers: { cookie } });
    expect(await meResponse.json()).toEqual({ user: me, csrfToken });
    expect((await fixture.request("/v1/models", { headers: { cookie } })).status).toBe(200);
    const noCsrf = await fixture.request("/v1/chat/completions", { body: chatBody(), headers: { cookie } });
    expect(noCsrf.status).toBe(403);
    expect((await noCsrf.json()).error.message).toContain("x-csrf-token");
    const withCsrf = await fixture.request("/v1/chat/completions", {
      body: chatBody(),
      headers: { cookie, "x-csrf-token": csrfToken },
    });
    expect(withCsrf.status).toBe(200);

    const logout = await fixture.request("/auth/logout", {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrfToken },
    });
    expect(logout.status).toBe(200);
    expect((await fixture.request("/auth/me", { headers: { cookie } })).status).toBe(401);
    expect((await fixture.request("/v1/models", { headers: { cookie } })).status).toBe(401);
  });

  it("signs in with an API key too", async () => {
    const key = await (
      await fixture.request("/admin/v1/keys", { key: fixture.adminKey, body: { name: "web key" } })
    ).json();
    const login = await fixture.request("/auth/login", { body: { apiKey: key.secret } });
    expect(login.status).toBe(200);
    expect((await login.json()).user).toMatchObject({
      name: "web key",
      tenantId: "default",
      roles: ["member"],
    });
    expect(
      (await fixture.request("/auth/login", { body: { apiKey: "bst_live_zzzzzzzz_nope" } })).status,
    ).toBe(401);
  });

  it("throttles failed sign-ins per email", async () => {
    await fixture.request("/admin/v1/users", {
      key: fixture.adminKey,
      body: { email: "target@example.com", password: "the right password" },
    });
    const attempt = (password: string) =>
      fixture.request("/auth/login", { body: { email: "target@example.com", password } });
    for (let index = 0; index < 5; index++) expect((await attempt(`wrong ${index}`)).status).toBe(401);
    const blocked = await attempt("the right password");
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await blocked.json()).error.message).toContain("Too many failed sign-ins");
  });

  it("follows the user: demotion, disabling and deletion reach their keys and sessions at once", async () => {
    const admin = fixture.adminKey;
    const user = await (
      await fixture.request("/admin/v1/users", {
        key: admin,
        body: { email: "lifecycle@example.com", password: "a long password", roles: ["admin", "member"] },
      })
    ).json();
    const key = await (
      await fixture.request("/admin/v1/keys", { key: admin, body: { name: "hers", user_id: user.id } })
    ).json();
    expect(key.roles).toEqual(["admin", "member"]);
    expect((await fixture.request("/admin/v1/users", { key: key.secret })).status).toBe(200);
    // A user's key cannot be given roles the user lacks.
    const tooMuch = await fixture.request("/admin/v1/keys", {
      key: admin,
      body: { name: "x", user_id: user.id, roles: ["auditor"] },
    });
    expect(tooMuch.status).toBe(400);

    await fixture.request(`/admin/v1/users/${user.id}`, {
      method: "PATCH",
      key: admin,
      body: { roles: ["member"] },
    });
    expect((await fixture.request("/admin/v1/users", { key: key.secret })).status).toBe(403);
    expect((await fixture.request("/v1/models", { key: key.secret })).status).toBe(200);

    const login = await fixture.request("/auth/login", {
      body: { email: "lifecycle@example.com", password: "a long password" },
    });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    expect((await fixture.request("/auth/me", { headers: { cookie } })).status).toBe(200);
    await fixture.request(`/admin/v1/users/${user.id}`, {
      method: "PATCH",
      key: admin,
      body: { disabled: true },
    });
    expect((await fixture.request("/auth/me", { headers: { cookie } })).status).toBe(401);
    const disabled = await fixture.request("/v1/models", { key: key.secret });
    expect(disabled.status).toBe(401);
    expect((await disabled.json()).error.message).toContain("disabled");
    expect(
      (
        await fixture.request("/auth/login", {
          body: { email: "lifecycle@example.com", password: "a long password" },
        })
      ).status,
    ).toBe(401);

    expect(
      (await fixture.request(`/admin/v1/users/${user.id}`, { method: "DELETE", key: admin })).status,
    ).toBe(200);
    expect((await fixture.request(`/admin/v1/keys/${key.id}`, { key: admin })).status).toBe(404);
    expect((await fixture.request(`/admin/v1/users/${user.id}`, { key: admin })).status).toBe(404);
  });

  it("ends a session when it expires", async () => {
    const key = await (
      await fixture.request("/admin/v1/keys", { key: fixture.adminKey, body: { name: "short session" } })
    ).json();
    const login = await fixture.request("/auth/login", { body: { apiKey: key.secret } });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    expect((await fixture.request("/auth/me", { headers: { cookie } })).status).toBe(200);
    await store.db
      .updateTable("sessions")
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where("key_id", "=", key.id)
      .execute();
    const ended = await fixture.request("/auth/me", { headers: { cookie } });
    expect(ended.status).toBe(401);
    expect((await ended.json()).error.message).toContain("session has ended");
  });

  it("keeps tenants' own admins from raising their limits, and deletes a tenant with everything in it", async () => {
    const admin = fixture.adminKey;
    await fixture.request("/admin/v1/tenants", {
      key: admin,
      body: { id: "doomed", name: "Doomed", limits: { rpm: 10 } },
    });
    const own = await (
      await fixture.request("/admin/v1/keys", {
        key: admin,
        body: { name: "own admin", tenant_id: "doomed", roles: ["admin"] },
      })
    ).json();
    const raise = await fixture.request("/admin/v1/tenants/doomed", {
      method: "PATCH",
      key: own.secret,
      body: { limits: {} },
    });
    expect(raise.status).toBe(403);
    expect((await fixture.request("/admin/v1/tenants/doomed", { key: own.secret })).status).toBe(200);
    expect(
      (await fixture.request("/admin/v1/tenants", { key: own.secret, body: { id: "x", name: "x" } })).status,
    ).toBe(403);
    expect(
      (await fixture.request("/admin/v1/tenants/default", { method: "DELETE", key: admin })).status,
    ).toBe(400);
    expect((await fixture.request("/admin/v1/tenants/doomed", { method: "DELETE", key: admin })).status).toBe(
      200,
    );
    expect((await fixture.request("/v1/models", { key: own.secret })).status).toBe(401);
    expect(
      await store.db.selectFrom("api_keys").select("id").where("tenant_id", "=", "doomed").execute(),
    ).toEqual([]);
  });
});
