import { sql } from "kysely";
import type { LimitSettings } from "../config/auth-config.ts";
import type { Store } from "../store/database.ts";
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
}

/** The budget month, UTC. */
export const budgetMonth = (date = new Date()): string => date.toISOString().slice(0, 7);

const eur = (value: number) => `${value.toFixed(value < 1 ? 4 : 2)} EUR`;

/**
 * Monthly EUR budgets kept in the store, so that every instance on one PostgreSQL shares them.
 * Admission is one conditional UPDATE per scope (the database serialises the row), which is what
 * bounds overspending under concurrency to nothing beyond the estimate's error.
 */
export function createBudgets(store: Store): Budgets {
  const { db } = store;

  /** Takes `estimate` off the reservations of `scopes` and adds `actual` to their spend. */
  async function release(
    scopes: BudgetScope[],
    month: string,
    estimate: number,
    actual: number,
  ): Promise<void> {
    for (const scope of scopes) {
      await db
        .updateTable("budget_ledger")
        .set({
          reserved_eur: sql`case when reserved_eur > ${estimate} then reserved_eur - ${estimate} else 0 end`,
          spent_eur: sql`spent_eur + ${actual}`,
        })
        .where("scope", "=", scope.scope)
        .where("month", "=", month)
        .execute();
    }
  }

  return {
    async reserve(scopes, estimateEur) {
      const month = budgetMonth();
      const budgeted = scopes.filter(
        (scope) => scope.limits.budget_hard_eur !== undefined || scope.limits.budget_soft_eur !== undefined,
      );
      if (budgeted.length === 0) return { settle: async () => {} };
      const estimate = Math.max(0, estimateEur);
      const warnings: string[] = [];
      // No transaction spanning the scopes: each conditional UPDATE is atomic by itself, and a
      // transaction held across awaits would queue every other query behind it (one SQLite
      // connection). A refusal gives back what the earlier scopes reserved.
      const tryReserve = (scope: BudgetScope) => {
        const hard = scope.limits.budget_hard_eur;
        let update = db
          .updateTable("budget_ledger")
          .set({ reserved_eur: sql`reserved_eur + ${estimate}` })
          .where("scope", "=", scope.scope)
          .where("month", "=", month);
        if (hard !== undefined)
          update = update.where(sql<boolean>`spent_eur + reserved_eur + ${estimate} <= ${hard}`);
        return update.returning(["spent_eur", "reserved_eur"]).executeTakeFirst();
      };
      const reserved: BudgetScope[] = [];
      for (const scope of budgeted) {
        let result = await tryReserve(scope);
        if (result === undefined) {
          // First request of the month for this scope, or over budget: make sure the row exists.
          await db
            .insertInto("budget_ledger")
            .values({ scope: scope.scope, month, spent_eur: 0, reserved_eur: 0 })
            .onConflict((conflict) => conflict.columns(["scope", "month"]).doNothing())
            .execute();
          result = await tryReserve(scope);
        }
        if (result === undefined) {
          await release(reserved, month, estimate, 0);
          const current = await db
            .selectFrom("budget_ledger")
            .select(["spent_eur", "reserved_eur"])
            .where("scope", "=", scope.scope)
            .where("month", "=", month)
            .executeTakeFirst();
          throw new RateLimitError(
            `Monthly budget reached: ${scope.label} has a hard budget of ${eur(scope.limits.budget_hard_eur ?? 0)} and has spent ${eur(current?.spent_eur ?? 0)} this month (${eur(current?.reserved_eur ?? 0)} more reserved by running requests; this request may cost up to ${eur(estimate)}). Ask an admin to raise the budget, or wait for next month.`,
            secondsToNextMonth(),
            {},
          );
        }
        reserved.push(scope);
        const soft = scope.limits.budget_soft_eur;
        const committed = Number(result.spent_eur) + Number(result.reserved_eur);
        if (soft !== undefined && committed >= soft) {
          warnings.push(
            `${scope.label} has committed ${eur(committed)} of its ${eur(soft)} soft budget this month`,
          );
        }
      }
      let settled = false;
      return {
        ...(warnings.length === 0 ? {} : { warning: warnings.join("; ") }),
        async settle(actualEur) {
          if (settled) return;
          settled = true;
          await release(budgeted, month, estimate, Math.max(0, actualEur));
        },
      };
    },

    async status(scope) {
      const month = budgetMonth();
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
