import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Auth, createAuth, ensureDefaultTenant } from "../../auth/index.ts";
import { configSchema } from "../../config/config.ts";
import { anonymousPrincipal } from "../../core/principal.ts";
import { createPolicyEngine } from "../../policy/index.ts";
import { openStore, type Store } from "../../store/database.ts";
import { createApp } from "../app.ts";
import { createScriptedBackend, createStaticRegistry } from "../testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../testing/start-server.ts";

describe("policy admin routes", () => {
  let store: Store;
  let auth: Auth;
  let server: RunningServer;
  let adminKey: string;
  let auditorKey: string;
  let memberKey: string;

  beforeAll(async () => {
    store = await openStore({ sqlitePath: ":memory:" });
    await ensureDefaultTenant(store);
    const config = configSchema.parse({});
    auth = createAuth({ store, config, env: {} });
    server = await startServer(
      createApp({
        registry: createStaticRegistry([createScriptedBackend({ id: "chat-model" })]),
        auth,
        web: false,
        policies: { engine: createPolicyEngine(config.policies), defaultPolicy: config.policies.default },
      }),
    );
    const key = async (roles: Array<"admin" | "auditor" | "member">) =>
      (await auth.admin.createKey(anonymousPrincipal, { name: roles.join(","), roles })).secret;
    adminKey = await key(["admin"]);
    auditorKey = await key(["auditor"]);
    memberKey = await key(["member"]);
  });
  afterAll(async () => {
    await server.close();
    await store.destroy();
  });

  const call = (key: string, method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("lists the policies and names the default", async () => {
    const response = await call(auditorKey, "GET", "/admin/v1/policies");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { default: string; data: Array<{ name: string }> };
    expect(body.data.map((policy) => policy.name)).toContain(body.default);
  });

  it("dry-runs a text: what was found (masked, with positions) and what would happen", async () => {
    const text = "Écrire à jeanne.dupont@example.fr, IBAN FR76 3000 6000 0112 3456 7890 189.";
    const response = await call(adminKey, "POST", "/admin/v1/policies/check", { text });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      detections: Array<{ type: string; start: number; end: number; masked: string }>;
      decision: { action: string; dataClass: string; summary: string };
    };
    const types = body.detections.map((detection) => detection.type).sort();
    expect(types).toEqual(["email", "iban"]);
    const email = body.detections.find((detection) => detection.type === "email")!;
    expect(text.slice(email.start, email.end)).toBe("jeanne.dupont@example.fr");
    expect(email.masked).not.toContain("jeanne");
    expect(JSON.stringify(body)).not.toContain("jeanne.dupont");
    expect(body.decision.dataClass).toBe("personal");
    expect(body.decision.summary.length).toBeGreaterThan(0);
  });

  it("refuses a missing text, an unknown policy and a member", async () => {
    const empty = await call(adminKey, "POST", "/admin/v1/policies/check", { text: "" });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toContain("text");
    const unknown = await call(adminKey, "POST", "/admin/v1/policies/check", { text: "x", policy: "nope" });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { param: string } }).error.param).toBe("policy");
    expect((await call(memberKey, "GET", "/admin/v1/policies")).status).toBe(403);
    expect((await call(memberKey, "POST", "/admin/v1/policies/check", { text: "x" })).status).toBe(403);
  });
});
