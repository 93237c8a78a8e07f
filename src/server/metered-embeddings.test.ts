import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Auth, createAuth, ensureDefaultTenant } from "../auth/index.ts";
import { configSchema } from "../config/config.ts";
import type { EmbeddingResult, ModelBackend } from "../core/backend.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { createMeteringServices, type MeteringServices } from "../metering/services.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createApp } from "./app.ts";
import { createScriptedBackend, createStaticRegistry } from "./testing/scripted-backend.ts";
import { type RunningServer, startServer } from "./testing/start-server.ts";

// Embeddings are charged like chats: reserved on the key's and tenant's budgets at admission,
// metered (tokens, cost, energy) into a usage row and an audit record before the answer, settled
// at the metered cost; a hard budget refuses with 429 before any work. The scripted backends
// count one token per character.
const perMillion = { inputPerMillion: 2, outputPerMillion: 10 };

/** A scripted embedding backend that counts its calls and takes `delayMs` per call. */
function embeddingBackend(id: string, zone: string, delayMs: number) {
  const scripted = createScriptedBackend({ id, embeddings: true });
  const calls = { count: 0 };
  const backend: ModelBackend = {
    ...scripted,
    jurisdiction: { country: zone === "local" ? "local" : "FR", zone, operator: "test" },
    pricing: zone === "local" ? { inputPerMillion: 0, outputPerMillion: 0 } : perMillion,
    async embed(inputs, options): Promise<EmbeddingResult> {
      calls.count++;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return scripted.embed!(inputs, options);
    },
  };
  return { backend, calls };
}

describe.each(testDatabases())("metered embeddings on $name", ({ open }) => {
  let store: Store;
  let auth: Auth;
  let metering: MeteringServices;
  let server: RunningServer;
  let dataDir: string;
  const remote = embeddingBackend("embed-remote", "EU", 0);
  const local = embeddingBackend("embed-local", "local", 60);

  beforeAll(async () => {
    store = await open();
    await ensureDefaultTenant(store);
    const config = configSchema.parse({});
    auth = createAuth({ store, config, env: {} });
    const registry = createStaticRegistry([remote.backend, local.backend]);
    dataDir = mkdtempSync(join(tmpdir(), "bastion-metered-embeddings-"));
    metering = createMeteringServices({ config, store, dataDir, models: registry });
    auth.useCostModel(metering.meter);
    server = await startServer(createApp({ registry, auth, metering, web: false }));
  });
  afterAll(async () => {
    await server?.close();
    await metering?.close();
    await store?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const newKey = async (body: Record<string, unknown>) =>
    auth.admin.createKey(anonymousPrincipal, { name: "embeddings", ...body });
  const post = (path: string, key: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const rowOf = (response: Response) =>
    store.db
      .selectFrom("usage_records")
      .selectAll()
      .where("id", "=", response.headers.get("x-request-id")!)
      .executeTakeFirst();
  const auditOf = async (response: Response) =>
    (await metering.audit!.list({ limit: 1000 })).find(
      (entry) => entry.record.request_id === response.headers.get("x-request-id"),
    );

  it("/v1/embeddings: a usage row and an audit record with tokens, cost and energy, and the budget charged", async () => {
    const key = await newKey({ limits: { budget_hard_eur: 10 } });
    const input = ["Bonjour", "le monde"];
    const response = await post("/v1/embeddings", key.secret, { model: "embed-remote", input });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: { prompt_tokens: number } };
    expect(body.usage.prompt_tokens).toBe(15);
    const cost = (15 * 2) / 1e6;
    const row = await rowOf(response);
    expect(row).toMatchObject({
      endpoint: "/v1/embeddings",
      model: "embed-remote",
      backend: "embed-remote",
      backend_kind: "remote",
      status: "ok",
      key_id: key.id,
      tenant_id: "default",
      input_tokens: 15,
      output_tokens: 0,
    });
    expect(Number(row!.cost_eur)).toBeCloseTo(cost, 12);
    expect(Number(row!.energy_wh)).toBeGreaterThan(0);
    const audit = await auditOf(response);
    expect(audit?.record).toMatchObject({
      type: "request",
      endpoint: "/v1/embeddings",
      status: "ok",
      tokens: { input: 15, output: 0 },
    });
    expect(audit?.record.cost_eur).toBeCloseTo(cost, 9);
    // Settled at the metered cost; nothing left reserved.
    const spent = await auth.budgets.status(`key:${key.id}`);
    expect(spent.spentEur).toBeCloseTo(cost, 12);
    expect(spent.reservedEur).toBeCloseTo(0, 12);
  });

  it("Ollama's /api/embed and /api/embeddings are metered the same way", async () => {
    const key = await newKey({});
    for (const [path, body] of [
      ["/api/embed", { model: "embed-remote", input: "abc" }],
      ["/api/embeddings", { model: "embed-remote", prompt: "abcd" }],
    ] as const) {
      const response = await post(path, key.secret, body);
      expect(response.status).toBe(200);
      expect(await rowOf(response)).toMatchObject({ endpoint: path, status: "ok", key_id: key.id });
      expect((await auditOf(response))?.record).toMatchObject({ endpoint: path });
    }
  });

  it("a local model is charged the machine time of the call (self-hosted cost model)", async () => {
    const key = await newKey({});
    const response = await post("/v1/embeddings", key.secret, { model: "embed-local", input: "Bonjour" });
    expect(response.status).toBe(200);
    const row = await rowOf(response);
    expect(row).toMatchObject({ backend_kind: "local", input_tokens: 7 });
    // 150 W and EUR 0.12/h by default: at least the 60 ms the call took.
    expect(Number(row!.busy_ms)).toBeGreaterThanOrEqual(55);
    expect(Number(row!.energy_wh)).toBeGreaterThanOrEqual((150 * 0.055) / 3600);
    expect(Number(row!.cost_eur)).toBeGreaterThanOrEqual((0.12 * 0.055) / 3600);
  });

  it("a hard budget refuses with OpenAI's 429 before any work, once the spend reaches it", async () => {
    // 600 characters cost 0.0012 EUR each time; admission reserves ~0.0004 (3 characters a token).
    const key = await newKey({ limits: { budget_hard_eur: 0.002 } });
    const input = "x".repeat(600);
    const before = remote.calls.count;
    expect((await post("/v1/embeddings", key.secret, { model: "embed-remote", input })).status).toBe(200);
    expect((await post("/v1/embeddings", key.secret, { model: "embed-remote", input })).status).toBe(200);
    const refused = await post("/v1/embeddings", key.secret, { model: "embed-remote", input });
    expect(refused.status).toBe(429);
    const error = ((await refused.json()) as { error: { type: string; code: string; message: string } })
      .error;
    expect(error).toMatchObject({ type: "rate_limit_error", code: "rate_limited" });
    expect(error.message).toMatch(/hard budget of 0\.0020 EUR/);
    expect(remote.calls.count - before).toBe(2);
    expect(await rowOf(refused)).toMatchObject({ status: "blocked", error_code: "rate_limited" });
    const spent = await auth.budgets.status(`key:${key.id}`);
    expect(spent.spentEur).toBeCloseTo(0.0024, 12);
    expect(spent.reservedEur).toBeCloseTo(0, 12);
  });

  it("a tenant's hard budget applies to its keys' embeddings, and a soft budget warns", async () => {
    await auth.admin.createTenant(anonymousPrincipal, {
      id: "frugal",
      name: "Frugal",
      limits: { budget_hard_eur: 0.000001 },
    });
    const key = await newKey({ tenant_id: "frugal" });
    const refused = await post("/v1/embeddings", key.secret, { model: "embed-remote", input: "hello there" });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /tenant 'frugal'/,
    );

    const warned = await newKey({ limits: { budget_soft_eur: 0.000001 } });
    const response = await post("/v1/embeddings", warned.secret, {
      model: "embed-remote",
      input: "hello there",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-bastion-budget-warning")).toMatch(/soft budget/);
  });
});
