import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { budgetMonth } from "./budgets.ts";
import {
  type AuthFixture,
  chatBody,
  scriptWithDelay,
  startAuthFixture,
  startSlowRedis,
  testPricing,
} from "./test-setup.ts";

/** What one scripted answer costs: 7 input and 5 output tokens at the test prices. */
const actualCost = (7 * testPricing.inputPerMillion + 5 * testPricing.outputPerMillion) / 1e6;

/** A scripted answer that says "Hello", then waits for `gate()` before it finishes (7 + 5 tokens). */
function gatedAnswer(gate: () => Promise<void>) {
  return async function* () {
    yield { type: "text-delta" as const, text: "Hello" };
    await gate();
    yield {
      type: "finish" as const,
      finishReason: "stop" as const,
      usage: { promptTokens: 7, completionTokens: 5, reasoningTokens: 0, cachedPromptTokens: 0 },
    };
  };
}

async function createKey(fixture: AuthFixture, body: Record<string, unknown>) {
  const response = await fixture.request("/admin/v1/keys", {
    key: fixture.adminKey,
    body: { name: "limited", ...body },
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; secret: string };
}

describe.each(testDatabases())("limits and budgets on $name", ({ open, openTwo, name }) => {
  let store: Store;
  let fixture: AuthFixture;
  beforeAll(async () => {
    store = await open();
    fixture = await startAuthFixture({ store, script: scriptWithDelay(30) });
  });
  afterAll(async () => {
    await fixture?.close();
    await store?.destroy();
  });

  it("counts requests per minute with OpenAI's x-ratelimit headers, then refuses with 429", async () => {
    const key = await createKey(fixture, { limits: { rpm: 3 } });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let index = 0; index < 4; index++) {
      last = await fixture.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
      statuses.push(last.status);
      if (index === 0) {
        expect(last.headers.get("x-ratelimit-limit-requests")).toBe("3");
        expect(last.headers.get("x-ratelimit-remaining-requests")).toBe("2");
        expect(last.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(ms|s|m\d+s)$/);
      }
      await last.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
    // Browsers on another origin may read the limit headers.
    const cors = await fixture.request("/v1/models", {
      key: key.secret,
      headers: { origin: "https://app.example" },
    });
    expect(cors.headers.get("access-control-expose-headers")).toContain("x-ratelimit-remaining-requests");
    const refused = await fixture.request("/api/chat", { key: key.secret, body: chatBody() });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: expect.stringContaining("requests per minute") });
  });

  it("counts tokens per minute on completion", async () => {
    const key = await createKey(fixture, { limits: { tpm: 20 } });
    const first = await fixture.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-remaining-tokens")).toBe("20");
    await first.arrayBuffer();
    const second = await fixture.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
    expect(second.headers.get("x-ratelimit-remaining-tokens")).toBe("8");
    await second.arrayBuffer();
    const third = await fixture.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
    expect(third.status).toBe(429);
    expect((await third.json()).error.message).toContain("tokens per minute");
  });

  it("counts embeddings' tokens per minute too", async () => {
    const key = await createKey(fixture, { limits: { tpm: 10 } });
    const embed = () =>
      fixture.request("/v1/embeddings", {
        key: key.secret,
        body: { model: "other-model", input: "twelve chars" },
      });
    const first = await embed();
    expect(first.status).toBe(200);
    expect((await first.json()).usage.total_tokens).toBe(12);
    const second = await embed();
    expect(second.status).toBe(429);
    expect((await second.json()).error.message).toContain("tokens per minute");
  });

  it("holds at most `concurrency` requests at once, streamed ones until their last byte", async () => {
    // The answers start at once and finish only when the gate opens, so all six overlap.
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const gated = await startAuthFixture({
      store,
      script: async function* () {
        yield { type: "text-delta", text: "Hello" };
        await gate;
        yield {
          type: "finish",
          finishReason: "stop",
          usage: { promptTokens: 7, completionTokens: 5, reasoningTokens: 0, cachedPromptTokens: 0 },
        };
      },
    });
    try {
      const key = await createKey(gated, { limits: { concurrency: 2 } });
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          gated.request("/v1/chat/completions", { key: key.secret, body: chatBody({ stream: true }) }),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
      openGate();
      const bodies = await Promise.all(responses.map((response) => response.text()));
      expect(bodies.filter((body) => body.includes("Too many concurrent requests")).length).toBe(4);
      // Every slot was given back when its stream ended: the key serves again.
      const again = await gated.request("/v1/chat/completions", {
        key: key.secret,
        body: chatBody({ stream: true }),
      });
      expect(again.status).toBe(200);
      await again.text();
    } finally {
      openGate();
      await gated.close();
    }
  });

  it("never lets a key overspend its hard budget by more than one request under 50 concurrent requests", async () => {
    // Each request reserves its upper bound (max_tokens 5) and settles at its real cost.
    const hard = actualCost * 10.5;
    const key = await createKey(fixture, {
      limits: { budget_hard_eur: hard, budget_soft_eur: actualCost * 5 },
    });
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        fixture.request("/v1/chat/completions", { key: key.secret, body: chatBody({ max_tokens: 5 }) }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    const refused = responses.filter((response) => response.status === 429);
    await Promise.all(responses.map((response) => response.arrayBuffer()));
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    const ledger = await store.db
      .selectFrom("budget_ledger")
      .selectAll()
      .where("scope", "=", `key:${key.id}`)
      .where("month", "=", budgetMonth())
      .executeTakeFirstOrThrow();
    expect(ledger.spent_eur).toBeLessThanOrEqual(hard + actualCost);
    expect(ledger.spent_eur).toBeCloseTo(actualCost * statuses.filter((status) => status === 200).length, 9);
    expect(ledger.reserved_eur).toBeCloseTo(0, 9);
    // How many of the 50 got in depends on whether settlements landed between admissions (each
    // reserves its upper bound, more than it costs): what is left may still admit a few, one at a
    // time, never past the budget, until it refuses.
    let next = await fixture.request("/v1/chat/completions", {
      key: key.secret,
      body: chatBody({ max_tokens: 5 }),
    });
    for (let more = 0; next.status === 200 && more < 20; more++) {
      await next.arrayBuffer();
      next = await fixture.request("/v1/chat/completions", {
        key: key.secret,
        body: chatBody({ max_tokens: 5 }),
      });
    }
    expect(next.status).toBe(429);
    expect((await next.json()).error.message).toContain("Monthly budget reached");
    const final = await store.db
      .selectFrom("budget_ledger")
      .selectAll()
      .where("scope", "=", `key:${key.id}`)
      .where("month", "=", budgetMonth())
      .executeTakeFirstOrThrow();
    expect(final.spent_eur).toBeLessThanOrEqual(hard + actualCost);
    const detail = await (
      await fixture.request(`/admin/v1/keys/${key.id}`, { key: fixture.adminKey })
    ).json();
    expect(detail.budget.spent_eur).toBeCloseTo(final.spent_eur, 9);
  });

  it("does not let requests that share a client-chosen X-Request-Id skip the budget", async () => {
    const hard = actualCost * 3.5;
    const key = await createKey(fixture, { limits: { budget_hard_eur: hard } });
    const responses = await Promise.all(
      Array.from({ length: 12 }, () =>
        fixture.request("/v1/chat/completions", {
          key: key.secret,
          body: chatBody({ max_tokens: 5 }),
          headers: { "x-request-id": "same-id-for-all" },
        }),
      ),
    );
    await Promise.all(responses.map((response) => response.arrayBuffer()));
    const status = await fixture.auth.budgets.status(`key:${key.id}`);
    expect(status.spentEur).toBeLessThanOrEqual(hard + actualCost);
    expect(status.reservedEur).toBeCloseTo(0, 9);
    expect(responses.filter((response) => response.status === 429).length).toBeGreaterThan(0);
  });

  it("warns past the soft budget in x-bastion-budget-warning", async () => {
    const key = await createKey(fixture, { limits: { budget_soft_eur: actualCost * 1.5 } });
    const first = await fixture.request("/v1/chat/completions", {
      key: key.secret,
      body: chatBody({ max_tokens: 5 }),
    });
    expect(first.headers.get("x-bastion-budget-warning")).toBeNull();
    await first.arrayBuffer();
    const second = await fixture.request("/v1/chat/completions", {
      key: key.secret,
      body: chatBody({ max_tokens: 5 }),
    });
    expect(second.status).toBe(200);
    expect(second.headers.get("x-bastion-budget-warning")).toContain("soft budget");
    await second.arrayBuffer();
  });

  it("applies a tenant's budget to all of its keys", async () => {
    await fixture.request("/admin/v1/tenants", {
      key: fixture.adminKey,
      body: { id: `budget-${name}`, name: "budgeted", limits: { budget_hard_eur: actualCost * 2.5 } },
    });
    const one = await createKey(fixture, { tenant_id: `budget-${name}` });
    const two = await createKey(fixture, { tenant_id: `budget-${name}` });
    const statuses: number[] = [];
    for (const key of [one, two, one, two]) {
      const response = await fixture.request("/v1/chat/completions", {
        key: key.secret,
        body: chatBody({ max_tokens: 5 }),
      });
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
  });

  it.skipIf(!process.env.TEST_REDIS_URL)(
    "shares concurrency slots across two instances through Redis",
    async () => {
      const [first, second] = await openTwo();
      const redis = [new Redis(process.env.TEST_REDIS_URL!), new Redis(process.env.TEST_REDIS_URL!)];
      let openGate = () => {};
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      const script = gatedAnswer(() => gate);
      const a = await startAuthFixture({ store: first, redis: redis[0]!, script });
      const b = await startAuthFixture({ store: second, redis: redis[1]!, script });
      try {
        const key = await createKey(a, { limits: { concurrency: 3 } });
        const responses = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            (index % 2 === 0 ? a : b).request("/v1/chat/completions", {
              key: key.secret,
              body: chatBody({ stream: true }),
            }),
          ),
        );
        expect(responses.filter((response) => response.status === 200)).toHaveLength(3);
        openGate();
        await Promise.all(responses.map((response) => response.text()));
        const again = await b.request("/v1/chat/completions", {
          key: key.secret,
          body: chatBody({ stream: true }),
        });
        expect(again.status).toBe(200);
        await again.text();
      } finally {
        openGate();
        await a.close();
        await b.close();
        for (const client of redis) await client.quit();
        await second.destroy();
        await first.destroy();
      }
    },
  );

  it.skipIf(!process.env.TEST_REDIS_URL)(
    "a client that read a whole answer (or a refusal) may send its next one at once, though the instance that answered reaches Redis late",
    async () => {
      const [first, second] = await openTwo();
      // Instance `slow` gives its slots back through a Redis whose commands arrive 300 ms late;
      // `fast` admits the next request at once. A slot given back after the answer was sent
      // would still be taken when the next request arrives.
      const slowRedis = await startSlowRedis(process.env.TEST_REDIS_URL!, 300);
      const redis = [new Redis(slowRedis.url), new Redis(process.env.TEST_REDIS_URL!)];
      let openGate = () => {};
      let gate = Promise.resolve();
      const script = gatedAnswer(() => gate);
      const slow = await startAuthFixture({ store: first, redis: redis[0]!, script });
      const fast = await startAuthFixture({ store: second, redis: redis[1]!, script });
      try {
        const key = await createKey(slow, { limits: { concurrency: 1 } });
        const answers = [
          { path: "/v1/chat/completions", body: chatBody({ stream: true }) },
          { path: "/v1/chat/completions", body: chatBody() },
          { path: "/api/chat", body: chatBody() },
          { path: "/v1/embeddings", body: { model: "other-model", input: "Hi" } },
        ];
        for (const { path, body } of answers) {
          const answer = await slow.request(path, { key: key.secret, body });
          expect(answer.status).toBe(200);
          await answer.text();
          const next = await fast.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
          expect({ path, status: next.status }).toEqual({ path, status: 200 });
          await next.text();
        }

        // A refusal: its own count is taken back before it is sent.
        gate = new Promise<void>((resolve) => {
          openGate = resolve;
        });
        const running = await fast.request("/v1/chat/completions", {
          key: key.secret,
          body: chatBody({ stream: true }),
        });
        expect(running.status).toBe(200);
        const refused = await slow.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
        expect(refused.status).toBe(429);
        await refused.text();
        openGate();
        await running.text();
        const after = await fast.request("/v1/chat/completions", { key: key.secret, body: chatBody() });
        expect(after.status).toBe(200);
        await after.text();
      } finally {
        openGate();
        await slow.close();
        await fast.close();
        for (const client of redis) await client.quit();
        await slowRedis.close();
        await second.destroy();
        await first.destroy();
      }
    },
  );

  describe(`two instances sharing the database${process.env.TEST_REDIS_URL ? " and Redis" : ""}`, () => {
    const redisUrl = process.env.TEST_REDIS_URL;
    const clients: Redis[] = [];
    afterEach(async () => {
      for (const client of clients.splice(0)) await client.quit();
    });

    it("share budgets (and, with Redis, requests per minute)", async () => {
      const [first, second] = await openTwo();
      const redis =
        redisUrl === undefined || redisUrl === "" ? [] : [new Redis(redisUrl), new Redis(redisUrl)];
      clients.push(...redis);
      const a = await startAuthFixture({
        store: first,
        ...(redis[0] === undefined ? {} : { redis: redis[0] }),
      });
      const b = await startAuthFixture({
        store: second,
        ...(redis[1] === undefined ? {} : { redis: redis[1] }),
      });
      try {
        const hard = actualCost * 10.5;
        const shared = redis.length > 0 ? { rpm: 20 } : {};
        const key = await createKey(a, { limits: { budget_hard_eur: hard, ...shared } });
        const responses = await Promise.all(
          Array.from({ length: 50 }, (_, index) =>
            (index % 2 === 0 ? a : b).request("/v1/chat/completions", {
              key: key.secret,
              body: chatBody({ max_tokens: 5 }),
            }),
          ),
        );
        await Promise.all(responses.map((response) => response.arrayBuffer()));
        const ok = responses.filter((response) => response.status === 200).length;
        expect(ok).toBeGreaterThan(0);
        expect(ok).toBeLessThanOrEqual(10);
        const spent = await a.auth.budgets.status(`key:${key.id}`);
        expect(spent.spentEur).toBeLessThanOrEqual(hard + actualCost);
        expect(spent.reservedEur).toBeCloseTo(0, 9);
        if (redis.length > 0) {
          // Requests per minute are counted across both instances.
          const paced = await createKey(a, { limits: { rpm: 4 } });
          const statuses: number[] = [];
          for (const instance of [a, b, a, b, a]) {
            const response = await instance.request("/v1/chat/completions", {
              key: paced.secret,
              body: chatBody(),
            });
            statuses.push(response.status);
            await response.arrayBuffer();
          }
          expect(statuses).toEqual([200, 200, 200, 200, 429]);
        }
      } finally {
        await a.close();
        await b.close();
        await second.destroy();
        await first.destroy();
      }
    });
  });
});
