import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { createMeteringServices, type MeteringServices } from "../metering/services.ts";
import { createApp } from "../server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import { openStore, type Store } from "../store/database.ts";
import { ensureDefaultTenant } from "./bootstrap.ts";
import { type Auth, createAuth } from "./index.ts";
import { chatBody, scriptWithDelay, testPricing } from "./test-setup.ts";

// The server as `bastion serve` builds it: auth and metering together, so that a request's budget
// is settled when metering records it (in the same SQLite commit as its usage row and audit record).
let dataDir: string;
let store: Store;
let auth: Auth;
let metering: MeteringServices;
let server: RunningServer;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "bastion-metered-budgets-"));
  store = await openStore({ sqlitePath: join(dataDir, "bastion.db") });
  const config = configSchema.parse({});
  auth = createAuth({ store, config, env: {} });
  await ensureDefaultTenant(store);
  const backend = {
    ...createScriptedBackend({ id: "chat-model", aliases: ["chat"], script: scriptWithDelay(10) }),
    pricing: testPricing,
  };
  // Streams 50 tokens slowly: a client can leave in the middle.
  const slow = {
    ...createScriptedBackend({
      id: "slow-model",
      script: async function* (_request, signal) {
        for (let index = 0; index < 50; index++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (signal.aborted) return;
          yield { type: "text-delta" as const, text: `t${index} ` };
        }
        yield {
          type: "finish" as const,
          finishReason: "stop" as const,
          usage: { promptTokens: 7, completionTokens: 50, reasoningTokens: 0, cachedPromptTokens: 0 },
        };
      },
    }),
    pricing: testPricing,
  };
  const registry = createStaticRegistry([backend, slow]);
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

const request = (key: string, body: unknown) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("budgets with metering on", () => {
  it("settles each answered request once, at its metered cost (journaled before the answer ends)", async () => {
    const key = await auth.admin.createKey(anonymousPrincipal, {
      name: "metered",
      limits: { budget_hard_eur: 1000 },
    });
    // 7 input and 5 output tokens at 2 and 10 EUR per million.
    const cost = (7 * 2 + 5 * 10) / 1_000_000;
    const first = await request(key.secret, chatBody({ max_tokens: 5 }));
    expect(first.status).toBe(200);
    await first.json();
    const afterOne = await auth.budgets.status(`key:${key.id}`);
    expect(afterOne.spentEur).toBeCloseTo(cost, 12);
    expect(afterOne.reservedEur).toBeCloseTo(0, 12);

    const streamed = await request(key.secret, chatBody({ max_tokens: 5, stream: true }));
    expect(streamed.status).toBe(200);
    expect(await streamed.text()).toContain("[DONE]");
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => request(key.secret, chatBody({ max_tokens: 5 }))),
    );
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
    await Promise.all(responses.map((response) => response.arrayBuffer()));
    const after = await auth.budgets.status(`key:${key.id}`);
    expect(after.spentEur).toBeCloseTo(22 * cost, 12);
    expect(after.reservedEur).toBeCloseTo(0, 12);
    // The same cost as metering's usage rows: one price, counted once.
    const [usage] = await metering.usage.report({ groupBy: ["key"] });
    expect(usage?.requests).toBe(22);
    expect(usage?.cost_eur).toBeCloseTo(after.spentEur, 12);
  });

  it("charges nothing for a request whose chat could not open", async () => {
    const key = await auth.admin.createKey(anonymousPrincipal, {
      name: "refused",
      limits: { budget_hard_eur: 1000 },
    });
    const refused = await request(key.secret, chatBody({ model: "no-such-model" }));
    expect(refused.status).toBe(404);
    await refused.arrayBuffer();
    const status = await auth.budgets.status(`key:${key.id}`);
    expect(status.spentEur).toBe(0);
    expect(status.reservedEur).toBeCloseTo(0, 12);
  });

  it("charges a stream the client aborted for the tokens it used until then, not its reservation", async () => {
    const key = await auth.admin.createKey(anonymousPrincipal, {
      name: "aborted",
      limits: { budget_hard_eur: 1000 },
    });
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.secret}`, "content-type": "application/json" },
      body: JSON.stringify(chatBody({ model: "slow-model", stream: true, max_tokens: 1000 })),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = "";
    while ((text.match(/"content":"t\d+ "/g) ?? []).length < 3) {
      const next = await reader.read();
      if (next.done) break;
      text += new TextDecoder().decode(next.value);
    }
    controller.abort();
    await reader.cancel().catch(() => {});
    // Settled once the server has seen the client go.
    let status = await auth.budgets.status(`key:${key.id}`);
    for (let tries = 0; tries < 100 && (status.reservedEur > 0 || status.spentEur === 0); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await auth.budgets.status(`key:${key.id}`);
    }
    expect(status.reservedEur).toBeCloseTo(0, 12);
    const rows = await store.db
      .selectFrom("usage_records")
      .selectAll()
      .where("key_id", "=", key.id)
      .execute();
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row!.status).toBe("cancelled");
    // At least the three tokens the client read, far fewer than the 50 of the whole answer.
    expect(row!.output_tokens).toBeGreaterThanOrEqual(3);
    expect(row!.output_tokens).toBeLessThan(50);
    expect(row!.input_tokens).toBeGreaterThan(0);
    const partial = (row!.input_tokens * 2 + row!.output_tokens * 10) / 1_000_000;
    expect(row!.cost_eur).toBeCloseTo(partial, 12);
    // Charged what the usage row says, not the estimate reserved for 1000 output tokens.
    expect(status.spentEur).toBeCloseTo(partial, 12);
    expect(status.spentEur).toBeLessThan((1000 * 10) / 1_000_000);
  });
});
