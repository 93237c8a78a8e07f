import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../store/database.ts";
import { testDatabases } from "../store/test-databases.ts";
import { type BudgetScope, createBudgets, leaseRequests } from "./budgets.ts";

let counter = 0;
const scopeWith = (limits: BudgetScope["limits"]): BudgetScope => ({
  scope: `key:lease-${process.pid}-${++counter}`,
  label: "this API key",
  limits,
});

describe.each(testDatabases())("budget leases on $name", ({ open, openTwo }) => {
  let store: Store;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store?.destroy();
  });

  it("reserves a slice once and takes later estimates from it, then gives the rest back when idle", async () => {
    const budgets = createBudgets(store);
    const scope = scopeWith({ budget_hard_eur: 100 });
    const first = await budgets.reserve([scope], 0.01);
    expect((await budgets.status(scope.scope)).reservedEur).toBeCloseTo(0.01 * leaseRequests, 12);
    const more = [];
    for (let index = 0; index < leaseRequests - 1; index++) more.push(await budgets.reserve([scope], 0.01));
    // All 16 estimates came out of the one slice: nothing more reserved in the store.
    expect((await budgets.status(scope.scope)).reservedEur).toBeCloseTo(0.01 * leaseRequests, 12);
    const beyond = await budgets.reserve([scope], 0.01);
    expect((await budgets.status(scope.scope)).reservedEur).toBeCloseTo(0.02 * leaseRequests, 12);
    for (const reservation of [first, ...more, beyond]) await reservation.settle(0.004);
    const status = await budgets.status(scope.scope);
    expect(status.spentEur).toBeCloseTo(0.004 * (leaseRequests + 1), 12);
    expect(status.reservedEur).toBeCloseTo(0, 12);
  });

  it("requests that arrive together share the slice on its way instead of each reserving one", async () => {
    // Regression: each of the requests admitted before the first slice landed reserved a slice of
    // its own (and waited for the store), so under concurrency every request wrote its reservation.
    const budgets = createBudgets(store);
    const key = scopeWith({ budget_hard_eur: 100 });
    const tenant = scopeWith({ budget_hard_eur: 100 });
    const together = await Promise.all(Array.from({ length: 8 }, () => budgets.reserve([key, tenant], 0.01)));
    for (const scope of [key, tenant])
      expect((await budgets.status(scope.scope)).reservedEur).toBeCloseTo(0.01 * leaseRequests, 12);
    for (const reservation of together) await reservation.settle(0.004);
    for (const scope of [key, tenant]) {
      const status = await budgets.status(scope.scope);
      expect(status.spentEur).toBeCloseTo(0.004 * 8, 12);
      expect(status.reservedEur).toBeCloseTo(0, 12);
    }
  });

  it("falls back to one estimate when a slice does not fit, and never passes the hard budget", async () => {
    const budgets = createBudgets(store);
    const scope = scopeWith({ budget_hard_eur: 0.1 });
    const admitted = [];
    let refused = 0;
    const attempts = await Promise.allSettled(
      Array.from({ length: 50 }, () => budgets.reserve([scope], 0.01)),
    );
    for (const attempt of attempts) {
      if (attempt.status === "fulfilled") admitted.push(attempt.value);
      else refused++;
    }
    expect(admitted.length).toBeLessThanOrEqual(10);
    expect(admitted.length).toBeGreaterThan(0);
    expect(refused).toBe(50 - admitted.length);
    const during = await budgets.status(scope.scope);
    expect(during.reservedEur).toBeLessThanOrEqual(0.1 + 1e-9);
    for (const reservation of admitted) await reservation.settle(0.01);
    const after = await budgets.status(scope.scope);
    expect(after.spentEur).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(after.reservedEur).toBeCloseTo(0, 12);
  });

  it("says a local request's fractions of a cent in its refusal, not 0.0000 EUR", async () => {
    const budgets = createBudgets(store);
    const scope = scopeWith({ budget_hard_eur: 0.00002 });
    const message = await budgets.reserve([scope], 0.0000268).then(
      () => "",
      (error: Error) => error.message,
    );
    expect(message).toMatch(
      /hard budget of 0\.0000200 EUR and has spent 0\.0000 EUR .*may cost up to 0\.0000268 EUR/,
    );
  });

  it("keeps two instances' leases within one hard budget", async () => {
    const [first, second] = await openTwo();
    try {
      const a = createBudgets(first);
      const b = createBudgets(second);
      // Binary fractions, so that the sums are exact. A takes a slice of 16 x 1/32 = 0.5; B finds
      // 0.5 left: its own slice does not fit, one estimate at a time does, 16 times.
      const estimate = 1 / 32;
      const scope = scopeWith({ budget_hard_eur: 1 });
      const held = [await a.reserve([scope], estimate)];
      for (let index = 0; index < 16; index++) held.push(await b.reserve([scope], estimate));
      await expect(b.reserve([scope], estimate)).rejects.toThrow(/Monthly budget reached/);
      const status = await a.status(scope.scope);
      expect(status.spentEur + status.reservedEur).toBeLessThanOrEqual(1);
      // A still has room in its slice: its next request needs no write.
      held.push(await a.reserve([scope], estimate));
      for (const reservation of held) await reservation.settle(estimate);
      // A settlement commits up to the writer's wait after it returns (journaled): another
      // instance sees A's once A's writer has committed them.
      await a.status(scope.scope);
      const after = await b.status(scope.scope);
      expect(after.spentEur).toBeCloseTo(estimate * 18, 12);
      expect(after.reservedEur).toBeCloseTo(0, 12);
    } finally {
      await second.destroy();
      await first.destroy();
    }
  });

  it("gives back what a crashed instance reserved once its holds expire, and keeps a live one's", async () => {
    const [first, second] = await openTwo();
    try {
      let clock = Date.now();
      const now = () => clock;
      const scope = scopeWith({ budget_hard_eur: 100 });
      // Reserves a lease slice, then stops (as killed): nothing settles or renews it.
      const crashed = createBudgets(first, { owner: "crashed", holdSeconds: 60, now });
      await crashed.reserve([scope], 0.01);
      // Its holds are written (on PostgreSQL off the request's path: a sweep waits for them).
      expect(await crashed.sweepExpiredHolds()).toBe(0);
      const live = createBudgets(second, { owner: "live", holdSeconds: 60, now });
      const running = await live.reserve([scope], 0.01);
      expect((await live.status(scope.scope)).reservedEur).toBeCloseTo(0.02 * leaseRequests, 12);
      // Within the hold nothing is released.
      expect(await live.sweepExpiredHolds()).toBe(0);
      clock += 61_000;
      // The live instance renews its own holds before it releases the expired ones.
      expect(await live.sweepExpiredHolds()).toBe(1);
      expect((await live.status(scope.scope)).reservedEur).toBeCloseTo(0.01 * leaseRequests, 12);
      await running.settle(0.004);
      const after = await live.status(scope.scope);
      expect(after.reservedEur).toBeCloseTo(0, 12);
      expect(after.spentEur).toBeCloseTo(0.004, 12);
    } finally {
      await second.destroy();
      await first.destroy();
    }
  });

  it("reserves per request where a soft budget needs each request's figure", async () => {
    const budgets = createBudgets(store);
    const scope = scopeWith({ budget_hard_eur: 100, budget_soft_eur: 0.015 });
    const first = await budgets.reserve([scope], 0.01);
    expect(first.warning).toBeUndefined();
    const second = await budgets.reserve([scope], 0.01);
    expect(second.warning).toContain("soft budget");
    expect((await budgets.status(scope.scope)).reservedEur).toBeCloseTo(0.02, 12);
    await first.settle(0.01);
    await second.settle(0.01);
  });
});
