import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../../test/fake-upstream/server.ts";
import { type Auth, createAuth, ensureDefaultTenant } from "../auth/index.ts";
import { configSchema } from "../config/config.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import type { RequestObserver } from "../core/request-record.ts";
import { createGatewayFromConfig } from "../gateway/create-from-config.ts";
import type { Gateway } from "../gateway/gateway.ts";
import { createMeteringServices, type MeteringServices } from "../metering/services.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createApp } from "./app.ts";
import { type RunningServer, startServer } from "./testing/start-server.ts";

// Regression: refusals (401, 403, 429, a hard budget, a policy block) were recorded after the
// error response had left, so a client (or an auditor) reading right after could miss them. The
// stack is wired as `bastion serve` wires it: the gateway's policy in front of a fake provider,
// auth, limits, budgets, metering and audit. Every write is slowed down, so that a record written
// after the response could not be there yet when the test reads it.
const slowWriteMs = 300;

describe.each(testDatabases())("refusals are recorded before the error is sent, on $name", ({ open }) => {
  let upstream: FakeUpstream;
  let gateway: Gateway;
  let store: Store;
  let auth: Auth;
  let metering: MeteringServices;
  let server: RunningServer;
  let dataDir: string;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    upstream = await startFakeUpstream({ name: "us" });
    const config = configSchema.parse({
      backends: {
        us: {
          baseUrl: upstream.baseUrl,
          jurisdiction: { country: "US", zone: "other", operator: "Fake US AI", extraterritorial: true },
          pricing: { inputPerMillion: 4, outputPerMillion: 8 },
        },
      },
      routes: { "us-only": { candidates: ["us/echo"] } },
      gateway: { healthIntervalSeconds: 0 },
    });
    store = await open();
    await ensureDefaultTenant(store);
    auth = createAuth({ store, config, env: {} });
    let refusals: RequestObserver | undefined;
    const local = { list: async () => [], get: () => undefined, readiness: () => ({ ready: true }) };
    gateway = createGatewayFromConfig({
      config,
      local,
      observers: [{ onCompleted: (record) => refusals?.onCompleted(record) }],
    });
    dataDir = mkdtempSync(join(tmpdir(), "bastion-refusals-"));
    metering = createMeteringServices({
      config,
      store,
      dataDir,
      models: gateway.registry,
      backends: gateway,
    });
    refusals = metering.refusals;
    auth.useCostModel(metering.meter);
    metering.attachAdmin(auth.admin);
    const record = metering.recorder.record.bind(metering.recorder);
    metering.recorder.record = async (completed) => {
      await new Promise((resolve) => setTimeout(resolve, slowWriteMs));
      return record(completed);
    };
    const create = async (name: string, body: Record<string, unknown>) => {
      keys[name] = (await auth.admin.createKey(anonymousPrincipal, { name, ...body })).secret;
    };
    await create("admin", { roles: ["admin"] });
    await create("member", { roles: ["member"] });
    await create("embeddings-only", { scopes: { endpoints: ["/v1/embeddings"] } });
    await create("one-a-minute", { limits: { rpm: 1 } });
    await create("broke", { limits: { budget_hard_eur: 0.000001 } });
    server = await startServer(
      createApp({
        registry: gateway.registry,
        chat: metering.observe(gateway),
        auth,
        metering,
        web: false,
      }),
    );
  });

  afterAll(async () => {
    await server?.close();
    await metering?.close();
    await gateway?.dispose();
    await store?.destroy();
    await upstream?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const chat = (key: string | undefined, content = "Bonjour") =>
    fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      },
      body: JSON.stringify({ model: "us-only", messages: [{ role: "user", content }] }),
    });

  /** The usage row and audit records of a request, read at once (no waiting). */
  async function recordsOf(response: Response) {
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toEqual(expect.any(String));
    const rows = await store.db
      .selectFrom("usage_records")
      .selectAll()
      .where("id", "=", requestId!)
      .execute();
    const audit = (await metering.audit!.list({ limit: 1000 })).filter(
      (entry) => entry.record.request_id === requestId,
    );
    return { rows, audit };
  }

  it.each([
    ["a missing key (401)", () => chat(undefined), 401, "unauthorized", null],
    ["a wrong key (401)", () => chat("bst_live_00000000_wrong"), 401, "unauthorized", null],
    [
      "an endpoint the key may not use (403)",
      () => chat(keys["embeddings-only"]),
      403,
      "forbidden",
      "default",
    ],
    [
      "a member on the admin API (403)",
      () => fetch(`${server.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${keys.member}` } }),
      403,
      "forbidden",
      "default",
    ],
    ["a hard budget (429)", () => chat(keys.broke), 429, "rate_limited", "default"],
  ] as const)("%s", async (_name, send, status, code, tenant) => {
    const response = await send();
    expect(response.status).toBe(status);
    const { rows, audit } = await recordsOf(response);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "blocked", error_code: code, tenant_id: tenant, model: "none" });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.record).toMatchObject({ status: "blocked", error_code: code, tenant });
    await response.body?.cancel();
  });

  it("a requests/min limit (429), after the request it allowed", async () => {
    const allowed = await chat(keys["one-a-minute"]);
    expect(allowed.status).toBe(200);
    await allowed.text();
    const refused = await chat(keys["one-a-minute"]);
    expect(refused.status).toBe(429);
    const { rows, audit } = await recordsOf(refused);
    expect(rows).toMatchObject([{ status: "blocked", error_code: "rate_limited" }]);
    expect(audit).toHaveLength(1);
  });

  it("a policy block (403): once, with the policy's own record and detector counts", async () => {
    const response = await chat(keys.admin, "Our deploy key is AKIAIOSFODNN7EXAMPLE, keep it safe.");
    expect(response.status).toBe(403);
    const { rows, audit } = await recordsOf(response);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "blocked", policy_action: "keep-local" });
    expect(Object.values(JSON.parse(rows[0]!.detections) as Record<string, number>).some((n) => n > 0)).toBe(
      true,
    );
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain("AKIAIOSFODNN7EXAMPLE");
  });

  it("records both refusals of two requests that share a client-supplied X-Request-Id", async () => {
    const requestId = `shared-${Math.random().toString(36).slice(2)}`;
    const send = () =>
      fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": requestId },
        body: JSON.stringify({ model: "us-only", messages: [{ role: "user", content: "Bonjour" }] }),
      });
    const responses = await Promise.all([send(), send()]);
    expect(responses.map((response) => response.status)).toEqual([401, 401]);
    for (const response of responses) expect(response.headers.get("x-request-id")).toBe(requestId);
    const audit = (await metering.audit!.list({ limit: 1000 })).filter(
      (entry) => entry.record.request_id === requestId,
    );
    expect(audit).toHaveLength(2);
    const third = await send();
    expect(third.status).toBe(401);
    expect(
      (await metering.audit!.list({ limit: 1000 })).filter((entry) => entry.record.request_id === requestId),
    ).toHaveLength(3);
    for (const response of [...responses, third]) await response.body?.cancel();
  });

  it("an answered request is not recorded as a refusal, and the chain verifies", async () => {
    const response = await chat(keys.admin);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toContain("chat.completion");
    const { rows } = await recordsOf(response);
    expect(rows).toMatchObject([{ status: "ok" }]);
    expect(await metering.verifyAudit()).toMatchObject({ ok: true });
  });
});
