import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDefaultTenant } from "../../auth/bootstrap.ts";
import { createAuth } from "../../auth/index.ts";
import { configSchema } from "../../config/config.ts";
import { anonymousPrincipal } from "../../core/principal.ts";
import { createMeteringServices, type MeteringServices } from "../../metering/services.ts";
import type { Store } from "../../store/database.ts";
import { testDatabases } from "../../store/test-databases.ts";
import { createApp } from "../app.ts";
import { createScriptedBackend, createStaticRegistry } from "../testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../testing/start-server.ts";

describe.each(testDatabases())("usage, audit and metrics access on $name", ({ open }) => {
  let store: Store;
  let services: MeteringServices;
  let server: RunningServer;
  const keys: Record<string, string> = {};
  const get = (path: string, key?: string, method = "GET") =>
    fetch(`${server.url}${path}`, {
      method,
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    });
  const chat = (key: string) =>
    fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "Hi" }] }),
    });

  beforeAll(async () => {
    store = await open();
    const config = configSchema.parse({});
    const auth = createAuth({ store, config, env: {} });
    await ensureDefaultTenant(store);
    const registry = createStaticRegistry([createScriptedBackend({ id: "m" })]);
    services = createMeteringServices({
      config,
      store,
      dataDir: mkdtempSync(join(tmpdir(), "bastion-access-")),
      models: registry,
    });
    services.attachAdmin(auth.admin);
    server = await startServer(createApp({ registry, auth, metering: services, web: false }));
    const make = async (name: string, body: Record<string, unknown>) => {
      keys[name] = (await auth.admin.createKey(anonymousPrincipal, { name, ...body })).secret;
    };
    await auth.admin.createTenant(anonymousPrincipal, { id: "acme", name: "ACME" });
    await make("root", { roles: ["admin"] });
    await make("member", { roles: ["member"] });
    await make("auditor", { roles: ["auditor"] });
    await make("acmeAdmin", { tenant_id: "acme", roles: ["admin"] });
    await make("acmeMember", { tenant_id: "acme", roles: ["member"] });
  });
  afterAll(async () => {
    await server?.close();
    await services?.close();
    await store?.destroy();
  });

  it("lets admins and auditors read usage and audit, each tenant only its own, and only admins scrape metrics", async () => {
    expect((await chat(keys.member!)).status).toBe(200);
    expect((await chat(keys.acmeMember!)).status).toBe(200);

    expect((await get("/admin/v1/usage")).status).toBe(401);
    expect((await get("/admin/v1/usage", keys.member)).status).toBe(403);
    const all = await (await get("/admin/v1/usage?group_by=tenant", keys.auditor)).json();
    // The 401 above is recorded too, under no tenant: who sent it is unknown.
    // (Where a null sorts differs between SQLite and PostgreSQL: compare as a set.)
    expect(all.data.map((row: { tenant: string | null }) => row.tenant ?? "(none)").sort()).toEqual([
      "(none)",
      "acme",
      "default",
    ]);
    const acme = await (await get("/admin/v1/usage?group_by=tenant", keys.acmeAdmin)).json();
    expect(acme.data.map((row: { tenant: string }) => row.tenant)).toEqual(["acme"]);
    const own = await (await get("/admin/v1/usage?group_by=tenant&tenant_id=acme", keys.acmeAdmin)).json();
    expect(own.data.map((row: { tenant: string }) => row.tenant)).toEqual(["acme"]);
    // Regression: another tenant's usage or audit answered 200 with the reader's own rows.
    for (const path of [
      "/admin/v1/usage?group_by=tenant&tenant_id=default",
      "/admin/v1/audit?tenant_id=default",
    ]) {
      const refused = await get(path, keys.acmeAdmin);
      expect(refused.status).toBe(404);
      expect((await refused.json()).error).toMatchObject({ code: "not_found", param: "tenant_id" });
    }

    const audit = await (await get("/admin/v1/audit", keys.acmeAdmin)).json();
    expect(audit.data.length).toBeGreaterThan(0);
    expect(audit.data.every((entry: { record: { tenant: string } }) => entry.record.tenant === "acme")).toBe(
      true,
    );
    expect((await get("/admin/v1/audit", keys.acmeMember)).status).toBe(403);
    expect(await (await get("/admin/v1/audit/verify", keys.auditor, "POST")).json()).toMatchObject({
      ok: true,
    });
    expect((await get("/admin/v1/audit?limit=lots", keys.root)).status).toBe(400);

    expect((await get("/metrics")).status).toBe(401);
    expect((await get("/metrics", keys.auditor)).status).toBe(403);
    const metrics = await get("/metrics", keys.root);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/bastion_requests_total\{model="m",backend="m",status="ok"\} 2/);
    for (const secret of Object.values(keys)) expect(text).not.toContain(secret.slice(0, 17));
    expect(text).not.toMatch(/tenant|key_id|user_id|acme/);
  });
});
