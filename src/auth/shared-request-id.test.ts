import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import type { ChatStreamPart } from "../core/chat.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { createMeteringServices, type MeteringServices } from "../metering/services.ts";
import { createApp } from "../server/app.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import { type RunningServer, startServer } from "../server/testing/start-server.ts";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { ensureDefaultTenant } from "./bootstrap.ts";
import { budgetMonth } from "./budgets.ts";
import { type Auth, createAuth } from "./index.ts";
import { chatBody } from "./test-setup.ts";

/*
 * Regression: the limits settler kept open reservations in a map keyed by the client-chosen
 * X-Request-Id. Two requests in flight with one id shared an entry: the second replaced the first,
 * so metering's record of the first no longer found its reservation and the limits settled it from
 * a record of their own, priced without metering's measure of how busy the machine was. Each
 * request must settle its own reservation, at its metered cost, and give back its own slot.
 */

/** Answers "Hello" and waits for the gate before its finish part, with measured engine timings. */
function gatedLocalScript(gate: () => Promise<void>) {
  return async function* (): AsyncIterable<ChatStreamPart> {
    yield { type: "text-delta", text: "Hello" };
    await gate();
    yield {
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 7, completionTokens: 5, reasoningTokens: 0, cachedPromptTokens: 0 },
      timings: { queueMs: 0, promptMs: 100, generationMs: 400 },
    };
  };
}

// The concurrency counters are in memory, or in Redis when the run has one.
const counters = process.env.TEST_REDIS_URL ? " with Redis" : "";

describe.each(testDatabases())(`requests that share an X-Request-Id on $name${counters}`, ({ open }) => {
  let redis: Redis | undefined;
  let dataDir: string;
  let store: Store;
  let auth: Auth;
  let metering: MeteringServices;
  let server: RunningServer;
  let gate: { promise: Promise<void>; open: () => void };
  const newGate = () => {
    let open = () => {};
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    gate = { promise, open };
  };

  beforeAll(async () => {
    newGate();
    dataDir = mkdtempSync(join(tmpdir(), "bastion-shared-request-id-"));
    store = await open();
    // A local model is charged its share of the machine (busy time / requests served at once), a
    // figure only metering's record carries.
    const config = configSchema.parse({ metering: { local: { eurPerHour: 36 } } });
    if (process.env.TEST_REDIS_URL) redis = new Redis(process.env.TEST_REDIS_URL);
    auth = createAuth({ store, config, env: {}, ...(redis === undefined ? {} : { redis }) });
    await ensureDefaultTenant(store);
    const backend = {
      ...createScriptedBackend({ id: "local-model", script: gatedLocalScript(() => gate.promise) }),
      jurisdiction: { country: "local", zone: "local", operator: "this server" },
    };
    const registry = createStaticRegistry([backend]);
    metering = createMeteringServices({ config, store, dataDir, models: registry });
    auth.useCostModel(metering.meter);
    server = await startServer(createApp({ registry, auth, metering, web: false }));
  });

  afterAll(async () => {
    gate?.open();
    await server?.close();
    await metering?.close();
    await store?.destroy();
    await redis?.quit();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const chat = (key: string) =>
    fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        "content-type": "application/json",
        "x-request-id": "same-id",
      },
      body: JSON.stringify(chatBody({ model: "local-model", max_tokens: 5, stream: true })),
    });

  /** Starts `count` streamed chats at once behind a new gate; resolves once all have answered their heads. */
  const overlapping = (key: string, count: number) => {
    newGate();
    return Promise.all(Array.from({ length: count }, () => chat(key)));
  };

  it("settles each one's own reservation at its metered cost and gives back each one's slot", async () => {
    const key = await auth.admin.createKey(anonymousPrincipal, {
      name: "shared-id",
      limits: { budget_hard_eur: 1000, concurrency: 2 },
    });
    // Both run at once (the gate holds their answers), so each was admitted while the other held a slot.
    const first = await overlapping(key.secret, 2);
    expect(first.map((response) => response.status)).toEqual([200, 200]);
    gate.open();
    await Promise.all(first.map((response) => response.text()));

    const ledger = () =>
      store.db
        .selectFrom("budget_ledger")
        .selectAll()
        .where("scope", "=", `key:${key.id}`)
        .where("month", "=", budgetMonth())
        .executeTakeFirstOrThrow();
    const rows = () =>
      store.db
        .selectFrom("usage_records")
        .select(["cost_eur"])
        .where("key_id", "=", key.id)
        .where("status", "=", "ok")
        .execute();
    const usage = await rows();
    expect(usage).toHaveLength(2);
    const metered = usage.reduce((sum, row) => sum + Number(row.cost_eur), 0);
    expect(metered).toBeGreaterThan(0);
    const afterTwo = await ledger();
    // One price per request, metering's, counted once: the budget says what the usage rows say.
    expect(Number(afterTwo.spent_eur)).toBeCloseTo(metered, 12);
    expect(Number(afterTwo.reserved_eur)).toBeCloseTo(0, 12);

    // Both slots came back, once each: exactly two run at once again, and a third is refused.
    const second = await overlapping(key.secret, 3);
    const statuses = second.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 200, 429]);
    gate.open();
    await Promise.all(second.map((response) => response.text()));
    const again = await overlapping(key.secret, 2);
    expect(again.map((response) => response.status)).toEqual([200, 200]);
    gate.open();
    await Promise.all(again.map((response) => response.text()));

    const all = await rows();
    expect(all).toHaveLength(6);
    const final = await ledger();
    expect(Number(final.spent_eur)).toBeCloseTo(
      all.reduce((sum, row) => sum + Number(row.cost_eur), 0),
      12,
    );
    expect(Number(final.reserved_eur)).toBeCloseTo(0, 12);
  });
});
