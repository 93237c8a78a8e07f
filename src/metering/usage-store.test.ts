import { describe, expect, it } from "vitest";
import type { CompletedRequest } from "../core/request-record.ts";
import { testDatabases } from "../store/test-databases.ts";
import { createUsageStore } from "./usage-store.ts";

function request(
  id: string,
  at: string,
  who: { tenantId: string; userId?: string; keyId?: string },
  model: string,
) {
  return {
    requestId: id,
    startedAt: new Date(at),
    endpoint: "/v1/chat/completions",
    principal: { ...who, roles: ["member"] },
    requestedModel: model,
    model,
    backend: model === "remote-model" ? "eu-cloud" : model,
    backendKind: model === "remote-model" ? "remote" : "local",
    jurisdiction: { country: "FR", zone: "EU", operator: "x" },
    policy: { policy: "p", dataClass: "public", action: "allow", detections: {}, summary: "" },
    usage: { promptTokens: 100, completionTokens: 10, reasoningTokens: 2, cachedPromptTokens: 50 },
    timings: { queueMs: 0, ttftMs: 1, totalMs: 2, busyMs: 2 },
    status: "ok",
  } satisfies CompletedRequest;
}

const priced = { costEur: 0.5, energyWh: 2, co2eG: 1, referenceCostEur: 1.5, savedEur: 1 };

describe.each(testDatabases())("usage report on $name", ({ open }) => {
  it("sums by any mix of day, tenant, user, key, model and backend, within a date range", async () => {
    const store = await open();
    try {
      const usage = createUsageStore(store);
      const a = { tenantId: "A", userId: "u1", keyId: "k1" };
      const b = { tenantId: "B", userId: "u2", keyId: "k2" };
      await usage.insert(request("1", "2026-03-01T10:00:00Z", a, "tiny"), priced);
      await usage.insert(request("2", "2026-03-01T23:59:59Z", a, "remote-model"), priced);
      const third = request("3", "2026-03-02T00:00:00Z", b, "tiny");
      await usage.insert(third, priced);
      await usage.insert(third, priced); // the same record reported twice: one row
      expect(await usage.report()).toEqual([
        {
          requests: 3,
          input_tokens: 300,
          output_tokens: 30,
          reasoning_tokens: 6,
          cached_tokens: 150,
          cost_eur: 1.5,
          energy_wh: 6,
          co2e_g: 3,
          reference_cost_eur: 4.5,
          saved_eur: 3,
        },
      ]);
      const byDayTenant = await usage.report({ groupBy: ["day", "tenant"] });
      expect(byDayTenant.map((row) => [row.day, row.tenant, row.requests])).toEqual([
        ["2026-03-01", "A", 2],
        ["2026-03-02", "B", 1],
      ]);
      const byBackend = await usage.report({ groupBy: ["backend", "user", "key"] });
      expect(byBackend.map((row) => [row.backend, row.user, row.key, row.requests])).toEqual([
        ["eu-cloud", "u1", "k1", 1],
        ["tiny", "u1", "k1", 1],
        ["tiny", "u2", "k2", 1],
      ]);
      // A bare date as `to` includes that whole day; `from` is inclusive.
      expect((await usage.report({ to: "2026-03-01" }))[0]?.requests).toBe(2);
      expect((await usage.report({ from: "2026-03-02" }))[0]?.requests).toBe(1);
      expect((await usage.report({ groupBy: ["model"], tenantId: "A" })).map((row) => row.model)).toEqual([
        "remote-model",
        "tiny",
      ]);
      expect(await usage.report({ from: "2027-01-01" })).toEqual([]);
      // Erasure keeps the totals but unlinks the user and their key.
      expect(await usage.eraseUser("u1")).toBe(2);
      const afterErasure = await usage.report({ groupBy: ["user"] });
      expect(afterErasure.map((row) => [row.user, row.requests])).toEqual(
        expect.arrayContaining([
          [null, 2],
          ["u2", 1],
        ]),
      );
    } finally {
      await store.destroy();
    }
  });

  it("gives two requests that share a client-chosen X-Request-Id a usage row each (metering cannot be dodged)", async () => {
    const store = await open();
    try {
      const usage = createUsageStore(store);
      const who = { tenantId: "A", keyId: "k1" };
      // Sequential and in one batch (the same turn): every request is a row of its own.
      await usage.insert(request("client-id", "2026-03-01T10:00:00Z", who, "tiny"), priced);
      await usage.insert(request("client-id", "2026-03-01T10:00:01Z", who, "tiny"), priced);
      await Promise.all([
        usage.insert(request("client-id", "2026-03-01T10:00:02Z", who, "tiny"), priced),
        usage.insert(request("client-id", "2026-03-01T10:00:03Z", who, "tiny"), priced),
        usage.insert(request("other", "2026-03-01T10:00:04Z", who, "tiny"), priced),
      ]);
      expect((await usage.report())[0]?.requests).toBe(5);
      const ids = (await store.db.selectFrom("usage_records").select("id").orderBy("id").execute()).map(
        (row) => row.id,
      );
      // The client's id stays visible: the first request keeps it, the others carry it with a suffix.
      expect(ids).toEqual(["client-id", "client-id#2", "client-id#3", "client-id#4", "other"]);
    } finally {
      await store.destroy();
    }
  });
});
