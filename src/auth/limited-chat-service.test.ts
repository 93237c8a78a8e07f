import { afterEach, describe, expect, it } from "vitest";
import { createDirectChatService } from "../gateway/direct-chat-service.ts";
import { createScriptedBackend, createStaticRegistry } from "../server/testing/scripted-backend.ts";
import { openStore, type Store } from "../store/database.ts";
import { createBudgets } from "./budgets.ts";
import { createPriceTableCostModel } from "./cost-model.ts";
import { createLimitedChatService, createLimitsSettler, type PendingLimits } from "./limited-chat-service.ts";
import { createRateLimits } from "./rate-limits.ts";

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.destroy();
});

async function setup() {
  const store = await openStore({ sqlitePath: ":memory:" });
  stores.push(store);
  const backend = {
    ...createScriptedBackend({ id: "m" }),
    pricing: { inputPerMillion: 2, outputPerMillion: 10 },
  };
  const registry = createStaticRegistry([backend]);
  const budgets = createBudgets(store);
  const costModel = createPriceTableCostModel(registry);
  const pending = new WeakMap<object, PendingLimits>();
  const chat = createLimitedChatService(createDirectChatService(registry), {
    registry,
    budgets,
    costModel,
    settler: createLimitsSettler({ rateLimits: createRateLimits(), costModel }),
    pending,
    assumedOutputTokens: 100,
  });
  const principal = { tenantId: "default", keyId: "k1", roles: ["member" as const] };
  // The slot is given back after a delay (a remote counter), and says when it got it.
  const slot = { releases: 0, released: false };
  const entry: PendingLimits = {
    scopes: { keyId: "k1", tenantId: "default", key: { budget_hard_eur: 1 }, tenant: {} },
    warn: () => {},
    afterResponse: [],
    releaseSlot: async () => {
      slot.releases++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      slot.released = true;
    },
  };
  pending.set(principal, entry);
  const open = () =>
    chat.open(
      { model: "m", messages: [{ role: "user", content: "Hi" }], sampling: {}, maxTokens: 5 },
      { signal: new AbortController().signal, requestId: "r", endpoint: "/v1/chat/completions", principal },
    );
  return { budgets, entry, open, slot };
}

describe("the limited chat service", () => {
  it("settles a read chat at its real cost", async () => {
    const { budgets, entry, open } = await setup();
    const session = await open();
    expect((await budgets.status("key:k1")).reservedEur).toBeGreaterThan(0);
    for await (const _part of session.parts) {
      // read to the end
    }
    await Promise.all(entry.afterResponse.map((callback) => callback()));
    const status = await budgets.status("key:k1");
    expect(status.reservedEur).toBeCloseTo(0, 12);
    // The scripted answer reports 7 input and 5 output tokens.
    expect(status.spentEur).toBeCloseTo((7 * 2 + 5 * 10) / 1e6, 12);
  });

  it("gives back the reservation of a chat opened but never read, once the response is over", async () => {
    const { budgets, entry, open } = await setup();
    await open();
    expect((await budgets.status("key:k1")).reservedEur).toBeGreaterThan(0);
    await Promise.all(entry.afterResponse.map((callback) => callback()));
    const status = await budgets.status("key:k1");
    expect(status.reservedEur).toBeCloseTo(0, 12);
    expect(status.spentEur).toBe(0);
  });

  it("gives the concurrency slot back before the finish part is handed on", async () => {
    const { open, slot } = await setup();
    const session = await open();
    const seen: Array<{ type: string; released: boolean }> = [];
    for await (const part of session.parts) seen.push({ type: part.type, released: slot.released });
    expect(seen.at(-1)).toEqual({ type: "finish", released: true });
    // Before it, the answer was still being produced.
    expect(seen.slice(0, -1).every((part) => !part.released)).toBe(true);
    expect(seen.length).toBeGreaterThan(1);
  });

  it("gives the concurrency slot back before a reader that stops early gets control back", async () => {
    const { open, slot } = await setup();
    const session = await open();
    for await (const _part of session.parts) break;
    expect(slot.released).toBe(true);
  });
});
