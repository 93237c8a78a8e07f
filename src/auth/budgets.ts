import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { sql } from "kysely";
import type { LimitSettings } from "../config/auth-config.ts";
import type { Store } from "../store/database.ts";
import { sharedSqliteWriter } from "../store/sqlite-writer.ts";
import {
  type BudgetAsk,
  type BudgetHolder,
  type BudgetRelease,
  budgetReleaseJob,
  budgetReserveJob,
  budgetSweepJob,
  foldBudgetRelease,
} from "./budget-writes.ts";
import { RateLimitError } from "./rate-limits.ts";

/** Money set aside for one running request; settle it once with what the request really cost. */
export interface BudgetReservation {
  /** A soft-budget warning for the `x-bastion-budget-warning` header, when one is crossed. */
  warning?: string;
  settle(actualEur: number): Promise<void>;
}

export interface BudgetScope {
  /** `key:<id>` or `tenant:<id>`. */
  scope: string;
  label: string;
  limits: LimitSettings;
}

export interface Budgets {
  /**
   * Reserves `estimateEur` on every scope that has a budget, atomically: a scope whose month-to-date
   * spend plus open reservations plus this estimate would pass its hard budget refuses with 429,
   * and nothing is reserved anywhere.
   */
  reserve(scopes: BudgetScope[], estimateEur: number): Promise<BudgetReservation>;
  /** Month-to-date spend and open reservations of a scope. */
  status(scope: string): Promise<{ month: string; spentEur: number; reservedEur: number }>;
  /**
   * Renews this instance's holds, and gives back to the ledger what expired holds (of instances
   * that crashed) still reserve; returns how many expired holds it released. Runs at creation and
   * every third of `holdSeconds`.
   */
  sweepExpiredHolds(): Promise<number>;
}

export interface BudgetOptions {
  /** This instance's owner id on its holds (default: host, pid and a random part). */
  owner?: string;
  /** How long a hold outlives its last renewal (default 600 s). */
  holdSeconds?: number;
  /** For tests. */
  now?: () => number;
}

const defaultHoldSeconds = 600;

/** The budget month, UTC. */
export function budgetMonth(date?: Date): string {
  if (date !== undefined) return date.toISOString().slice(0, 7);
  // Asked on every request: the month is kept until the next one starts.
  const now = Date.now();
  if (now >= currentMonth.until || now < currentMonth.from) {
    const today = new Date(now);
    currentMonth.from = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1);
    currentMonth.until = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + 1, 1);
    currentMonth.month = today.toISOString().slice(0, 7);
  }
  return currentMonth.month;
}
const currentMonth = { from: 0, until: 0, month: "" };

/**
 * How many requests' estimates a budget lease reserves at once (see `createBudgets`): one write
 * per this many requests instead of one each, while a scope keeps requests in flight.
 */
export const leaseRequests = 16;

/** This instance's share of a scope's reservations: `amount` reserved in the store, `inFlight` of it promised to running requests. */
interface Lease {
  amount: number;
  inFlight: number;
  /** Running requests that took their estimate from this lease. */
  open: number;
  /** A slice being reserved in the store for this lease: requests without room wait for it. */
  pending?: Promise<unknown>;
}

/**
 * Two decimals from 1 EUR, four below, and three significant digits for amounts under 0.0001 EUR:
 * a local request costs fractions of a cent, which four decimals would print as 0.0000.
 */
const eur = (value: number) => {
  const abs = Math.abs(value);
  if (abs >= 1) return `${value.toFixed(2)} EUR`;
  if (abs === 0 || abs >= 0.0001) return `${value.toFixed(4)} EUR`;
  return `${value.toFixed(Math.min(20, Math.ceil(-Math.log10(abs)) + 2))} EUR`;
};

/**
 * Monthly EUR budgets kept in the store, so that every instance on one PostgreSQL shares them.
 * Admission is one conditional UPDATE per scope (the database serialises the row), which is what
 * bounds overspending under concurrency to nothing beyond the estimate's error.
 */
export function createBudgets(store: Store, options: BudgetOptions = {}): Budgets {
  const { db } = store;
  // SQLite: reservations and settlements are jobs of the database's shared writer (prepared
  // statements, in its worker thread for a database file), in the same transactions as usage rows
  // and audit records instead of a commit each.
  const fast = store.sqlite === undefined ? undefined : sharedSqliteWriter(store.sqlite);

  // Holds: what this instance reserved in the ledger is also written, per scope and month, under
  // its owner id with an expiry that every reservation and settlement, and a timer, move forward.
  // A crashed instance's holds expire, and the next sweep (this instance's start, or any other
  // instance's timer) gives their money back to the ledger.
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const holdMs = (options.holdSeconds ?? defaultHoldSeconds) * 1000;
  const now = options.now ?? Date.now;
  const holder = (): BudgetHolder => [owner, now() + holdMs];
  const sweep = async (): Promise<number> => {
    if (fast !== undefined) return fast.run(budgetSweepJob, [holder(), now()]);
    await holdWrites;
    const [, expiresAt] = holder();
    const at = now();
    await db
      .updateTable("budget_holds")
      .set({ expires_at: expiresAt })
      .where("owner", "=", owner)
      .where("amount", ">", 0)
      .execute();
    return db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom("budget_holds")
        .select(["scope", "month", "owner", "amount"])
        .where("expires_at", "<", at)
        .forUpdate()
        .execute();
      for (const row of rows) {
        const amount = Number(row.amount);
        if (amount > 0)
          await trx
            .updateTable("budget_ledger")
            .set({
              reserved_eur: sql`case when reserved_eur > ${amount} then reserved_eur - ${amount} else 0 end`,
            })
            .where("scope", "=", row.scope)
            .where("month", "=", row.month)
            .execute();
        await trx
          .deleteFrom("budget_holds")
          .where("scope", "=", row.scope)
          .where("month", "=", row.month)
          .where("owner", "=", row.owner)
          .execute();
      }
      return rows.length;
    });
  };
  // PostgreSQL: hold writes go out in order (an add must land before the take that follows it,
  // or the take clamps at zero), one after another, without the request waiting for them.
  let holdWrites: Promise<unknown> = Promise.resolve();
  const holdWrite = (write: () => Promise<unknown>) => {
    holdWrites = holdWrites.then(write).catch(() => undefined);
  };
  void sweep().catch(() => 0);
  const timer = setInterval(() => void sweep().catch(() => 0), holdMs / 3);
  timer.unref();

  /**
   * Takes `decrement` off each scope's reservations and adds `actual` to its spend (one UPDATE per
   * scope; on SQLite one job of the shared writer).
   */
  async function release(
    scopes: Array<{ scope: BudgetScope; decrement: number }>,
    month: string,
    actual: number,
  ): Promise<void> {
    if (scopes.length === 0) return;
    if (fast !== undefined) {
      // One journaled job in a coming transaction of the shared writer, with the request's usage
      // row and audit record (see `SqliteWriter.runLater`): no commit of its own, and the
      // settlements of every request that ends meanwhile fold into it (one UPDATE per scope, not
      // per request). Reservations only ever shrink here, so a release that commits a moment
      // later can make admission stricter, never looser; after a crash the journal's replay
      // settles it (its hold has not expired by then), so the spend is not lost.
      const args: BudgetRelease = [
        scopes.map(({ scope, decrement }): [string, string, number, number] => [
          scope.scope,
          month,
          decrement,
          actual,
        ]),
        holder(),
      ];
      await fast.runLater(budgetReleaseJob, args, foldBudgetRelease).journaled;
      return;
    }
    for (const { scope, decrement } of scopes) {
      await db
        .updateTable("budget_ledger")
        .set({
          reserved_eur: sql`case when reserved_eur > ${decrement} then reserved_eur - ${decrement} else 0 end`,
          spent_eur: sql`spent_eur + ${actual}`,
        })
        .where("scope", "=", scope.scope)
        .where("month", "=", month)
        .execute();
    }
    // After the ledger, which admission reads, and off the request's path: the holds only matter
    // after a crash.
    const [, expiresAt] = holder();
    holdWrite(() =>
      Promise.all(
        scopes.map(({ scope, decrement }) =>
          db
            .updateTable("budget_holds")
            .set({
              amount: sql`case when amount > ${decrement} then amount - ${decrement} else 0 end`,
              expires_at: expiresAt,
            })
            .where("scope", "=", scope.scope)
            .where("month", "=", month)
            .where("owner", "=", owner)
            .execute(),
        ),
      ),
    );
  }

  // Leases: a scope with a hard budget and no soft one reserves `leaseRequests` estimates at a
  // time, and later requests take their estimate from that slice in memory, without a write. The
  // database still holds every lease in `reserved_eur` and admits one only while spend plus all
  // reservations stays within the hard budget, so the bound is the same as one reservation per
  // request. A slice too large for what is left falls back to the request's own estimate. The rest
  // of a lease goes back with the settlement of the last request in flight on that scope.
  const leases = new Map<string, Lease>();
  const leaseOf = (scope: BudgetScope, month: string): Lease | undefined => {
    if (scope.limits.budget_hard_eur === undefined || scope.limits.budget_soft_eur !== undefined)
      return undefined;
    const id = `${scope.scope}\n${month}`;
    let lease = leases.get(id);
    if (lease === undefined) {
      if (leases.size >= 10_000) for (const [key, idle] of leases) if (idle.open === 0) leases.delete(key);
      lease = { amount: 0, inFlight: 0, open: 0 };
      leases.set(id, lease);
    }
    return lease;
  };

  async function overBudget(scope: BudgetScope, month: string, estimate: number): Promise<RateLimitError> {
    const current = await db
      .selectFrom("budget_ledger")
      .select(["spent_eur", "reserved_eur"])
      .where("scope", "=", scope.scope)
      .where("month", "=", month)
      .executeTakeFirst();
    return new RateLimitError(
      `Monthly budget reached: ${scope.label} has a hard budget of ${eur(scope.limits.budget_hard_eur ?? 0)} and has spent ${eur(current?.spent_eur ?? 0)} this month (${eur(current?.reserved_eur ?? 0)} more reserved by running requests; this request may cost up to ${eur(estimate)}). Ask an admin to raise the budget, or wait for next month.`,
      secondsToNextMonth(),
      {},
    );
  }

  /**
   * Reserves `amount` on every scope, or nothing: returns the scope that refused, if one did.
   * Soft-budget warnings are added to `warnings`.
   */
  async function reserveInStore(
    asked: Array<{ scope: BudgetScope; amount: number }>,
    month: string,
    warnings: string[],
  ): Promise<{ refused?: BudgetScope }> {
    const noted: string[] = [];
    const note = (scope: BudgetScope, result: { spent_eur: number; reserved_eur: number }) => {
      const soft = scope.limits.budget_soft_eur;
      const committed = Number(result.spent_eur) + Number(result.reserved_eur);
      if (soft !== undefined && committed >= soft) {
        noted.push(
          `${scope.label} has committed ${eur(committed)} of its ${eur(soft)} soft budget this month`,
        );
      }
    };
    if (fast !== undefined) {
      // SQLite: prepared statements, in the shared writer's next transaction.
      const [refused, rows] = await fast.run(budgetReserveJob, [
        month,
        asked.map(
          ({ scope, amount }): BudgetAsk => [scope.scope, amount, scope.limits.budget_hard_eur ?? null],
        ),
        holder(),
      ]);
      if (refused >= 0) return { refused: asked[refused]!.scope };
      for (const [index, [spent, reserved]] of rows.entries())
        note(asked[index]!.scope, { spent_eur: spent, reserved_eur: reserved });
    } else {
      const reserved: Array<{ scope: BudgetScope; decrement: number }> = [];
      for (const { scope, amount } of asked) {
        let result = await tryReserve(scope, amount, month);
        if (result === undefined) {
          // First request of the month for this scope, or over budget: make sure the row exists.
          await db
            .insertInto("budget_ledger")
            .values({ scope: scope.scope, month, spent_eur: 0, reserved_eur: 0 })
            .onConflict((conflict) => conflict.columns(["scope", "month"]).doNothing())
            .execute();
          result = await tryReserve(scope, amount, month);
        }
        if (result === undefined) {
          await release(reserved, month, 0);
          return { refused: scope };
        }
        reserved.push({ scope, decrement: amount });
        note(scope, result);
      }
      const [, expiresAt] = holder();
      holdWrite(() =>
        Promise.all(
          asked.map(({ scope, amount }) =>
            db
              .insertInto("budget_holds")
              .values({ scope: scope.scope, month, owner, amount, expires_at: expiresAt })
              .onConflict((conflict) =>
                conflict.columns(["scope", "month", "owner"]).doUpdateSet({
                  amount: sql`budget_holds.amount + excluded.amount`,
                  expires_at: expiresAt,
                }),
              )
              .execute(),
          ),
        ),
      );
    }
    warnings.push(...noted);
    return {};
  }

  // No transaction spanning the scopes: each conditional UPDATE is atomic by itself, and a
  // transaction held across awaits would queue every other query behind it (one SQLite
  // connection). A refusal gives back what the earlier scopes reserved.
  const tryReserve = (scope: BudgetScope, amount: number, month: string) => {
    const hard = scope.limits.budget_hard_eur;
    let update = db
      .updateTable("budget_ledger")
      .set({ reserved_eur: sql`reserved_eur + ${amount}` })
      .where("scope", "=", scope.scope)
      .where("month", "=", month);
    if (hard !== undefined)
      update = update.where(sql<boolean>`spent_eur + reserved_eur + ${amount} <= ${hard}`);
    return update.returning(["spent_eur", "reserved_eur"]).executeTakeFirst();
  };

  return {
    async reserve(scopes, estimateEur) {
      const month = budgetMonth();
      const budgeted = scopes.filter(
        (scope) => scope.limits.budget_hard_eur !== undefined || scope.limits.budget_soft_eur !== undefined,
      );
      if (budgeted.length === 0) return { settle: async () => {} };
      const estimate = Math.max(0, estimateEur);
      const entries = budgeted.map((scope) => ({ scope, lease: leaseOf(scope, month) }));
      type Entry = (typeof entries)[number];
      // A slice already on its way to a lease serves the requests that arrive meanwhile: without
      // this wait, requests arriving together (a burst, or the first of a month) each reserved a
      // slice of their own, and the lease saved nothing.
      for (;;) {
        const awaited = entries.filter(
          ({ lease }) => lease?.pending !== undefined && lease.amount - lease.inFlight < estimate,
        );
        if (awaited.length === 0) break;
        await Promise.all(awaited.map(({ lease }) => lease!.pending));
      }
      const take = (lease: Lease) => {
        lease.inFlight += estimate;
        lease.open++;
      };
      /** Gives a request's share of a lease back; returns what leaves the store's reservations. */
      const giveBack = ({ scope, lease }: Entry, actual: number) => {
        if (lease === undefined) return { scope, decrement: estimate };
        // What was spent leaves the lease; the rest of the estimate is free for the next request.
        lease.inFlight = Math.max(0, lease.inFlight - estimate);
        lease.open--;
        let decrement = Math.min(actual, lease.amount);
        lease.amount -= decrement;
        if (lease.open === 0) {
          decrement += lease.amount;
          lease.amount = 0;
          lease.inFlight = 0;
        }
        return { scope, decrement };
      };
      // Shares of leases with room are taken now, before any await, so that no other request can
      // promise the same room meanwhile.
      const fromLease = entries.filter(
        ({ lease }) => lease !== undefined && lease.amount - lease.inFlight >= estimate,
      );
      for (const { lease } of fromLease) take(lease!);
      const needed = entries.filter((entry) => !fromLease.includes(entry));
      const warnings: string[] = [];
      if (needed.length > 0) {
        // The other scopes reserve in the store: a lease's slice where one is used, else the
        // estimate; when the slice does not fit in what is left, the estimate alone.
        const attempt = (slice: boolean) =>
          needed.map((entry) => ({
            scope: entry.scope,
            amount: slice && entry.lease !== undefined ? estimate * leaseRequests : estimate,
          }));
        // The slices land in their leases (and this request takes its share) before `reserving`
        // resolves, so that requests waiting for it find them there.
        const reserving = (async (): Promise<{ refused?: BudgetScope }> => {
          let asked = attempt(true);
          let outcome = await reserveInStore(asked, month, warnings);
          if (outcome.refused !== undefined && needed.some((entry) => entry.lease !== undefined)) {
            asked = attempt(false);
            outcome = await reserveInStore(asked, month, warnings);
          }
          if (outcome.refused !== undefined) return outcome;
          for (const [index, { lease }] of needed.entries()) {
            if (lease === undefined) continue;
            lease.amount += asked[index]!.amount;
            take(lease);
          }
          return outcome;
        })();
        // Others wait for this slice (settled either way) rather than reserve one of their own.
        const pending = reserving.catch(() => undefined);
        const leased = needed.filter(
          (entry) => entry.lease !== undefined && entry.lease.pending === undefined,
        );
        for (const { lease } of leased) lease!.pending = pending;
        let outcome: { refused?: BudgetScope };
        try {
          outcome = await reserving;
        } catch (error) {
          await release(
            fromLease.map((entry) => giveBack(entry, 0)),
            month,
            0,
          );
          throw error;
        } finally {
          for (const { lease } of leased) if (lease!.pending === pending) delete lease!.pending;
        }
        if (outcome.refused !== undefined) {
          await release(
            fromLease.map((entry) => giveBack(entry, 0)),
            month,
            0,
          );
          throw await overBudget(outcome.refused, month, estimate);
        }
      }
      let settled = false;
      return {
        ...(warnings.length === 0 ? {} : { warning: warnings.join("; ") }),
        async settle(actualEur) {
          if (settled) return;
          settled = true;
          const actual = Math.max(0, actualEur);
          await release(
            entries.map((entry) => giveBack(entry, actual)),
            month,
            actual,
          );
        },
      };
    },

    sweepExpiredHolds: sweep,

    async status(scope) {
      const month = budgetMonth();
      // Settlements still waiting for their transaction (journaled) count.
      await fast?.flushed();
      const row = await db
        .selectFrom("budget_ledger")
        .select(["spent_eur", "reserved_eur"])
        .where("scope", "=", scope)
        .where("month", "=", month)
        .executeTakeFirst();
      return { month, spentEur: Number(row?.spent_eur ?? 0), reservedEur: Number(row?.reserved_eur ?? 0) };
    },
  };
}

function secondsToNextMonth(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.ceil((next - now.getTime()) / 1000);
}
