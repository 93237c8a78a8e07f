import { afterEach, describe, expect, it } from "vitest";
import type { ChatService, ChatServiceContext } from "../core/chat-service.ts";
import { type Assistant, type Assistants, createAssistantChatService } from "../documents/assistants.ts";
import type { DocumentService } from "../documents/document-service.ts";
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
  // What the service behind the limits (the gateway) was asked with.
  const seen: ChatServiceContext[] = [];
  const direct = createDirectChatService(registry);
  const inner: ChatService = {
    open: (request, context) => {
      seen.push(context);
      return direct.open(request, context);
    },
  };
  const settler = createLimitsSettler({ rateLimits: createRateLimits(), costModel });
  const chat = createLimitedChatService(inner, {
    registry,
    budgets,
    costModel,
    settler,
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
  return { budgets, chat, entry, open, principal, seen, settler, slot };
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

  it("settles a request's second chat with its record when the first was opened but never read", async () => {
    const { budgets, entry, open, principal, settler } = await setup();
    await open();
    // The first chat is given up: the response is over for it before anything read it.
    await entry.afterResponse[0]!();
    const second = await open();
    const iterator = second.parts[Symbol.asyncIterator]();
    await iterator.next();
    // Metering's record of the second chat (here 70 input and 50 output tokens) arrives first.
    await settler.onCompleted({
      requestId: "r",
      startedAt: new Date(),
      endpoint: "/v1/chat/completions",
      principal,
      requestedModel: "m",
      model: "m",
      backend: "m",
      backendKind: "remote",
      jurisdiction: { country: "FR", zone: "EU", operator: "test" },
      policy: { policy: "default", dataClass: "public", action: "allow", detections: {}, summary: "" },
      usage: { promptTokens: 70, completionTokens: 50, reasoningTokens: 0, cachedPromptTokens: 0 },
      timings: { queueMs: 0, ttftMs: 1, totalMs: 2, busyMs: 1 },
      status: "ok",
    });
    while (!(await iterator.next()).done) {
      // read to the end
    }
    await Promise.all(entry.afterResponse.map((callback) => callback()));
    const status = await budgets.status("key:k1");
    expect(status.reservedEur).toBeCloseTo(0, 12);
    // The record's cost, charged to the chat it came from (not to the first, long given back).
    expect(status.spentEur).toBeCloseTo((70 * 2 + 50 * 10) / 1e6, 12);
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

  it("reserves the budget of a chat addressed to an assistant with its own policy, which reaches the gateway", async () => {
    const { budgets, chat, entry, principal, seen } = await setup();
    const assistant: Assistant = {
      id: "asst_1",
      object: "assistant",
      tenant_id: "default",
      model: "m",
      instructions: "Be brief.",
      vector_store_ids: [],
      max_num_results: 5,
      policy: "local-only",
      description: null,
      source: "api",
      created_at: 0,
    };
    const assistants = {
      find: async (_tenant: string, id: string) => (id === "asst_1" ? assistant : undefined),
    };
    const withAssistants = createAssistantChatService(
      chat,
      assistants as unknown as Assistants,
      {} as DocumentService,
    );
    const session = await withAssistants.open(
      { model: "asst_1", messages: [{ role: "user", content: "Hi" }], sampling: {}, maxTokens: 5 },
      { signal: new AbortController().signal, requestId: "r", endpoint: "/v1/chat/completions", principal },
    );
    // The limits found this request's reservation (they look it up by the principal object).
    expect((await budgets.status("key:k1")).reservedEur).toBeGreaterThan(0);
    expect(seen.at(-1)).toMatchObject({ policy: "local-only" });
    expect(seen.at(-1)!.principal).toBe(principal);
    for await (const _part of session.parts) {
      // read to the end
    }
    await Promise.all(entry.afterResponse.map((callback) => callback()));
    expect((await budgets.status("key:k1")).spentEur).toBeGreaterThan(0);
  });
});
