import type SQLite from "better-sqlite3";
import { sql } from "kysely";
import { sharedSqliteWriter } from "../audit/group-commit.ts";
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

const eur = (value: number) => `${value.toFixed(value < 1 ? 4 : 2)} EUR`;

/**
 * Monthly EUR budgets kept in the store, so that every instance on one PostgreSQL shares them.
 * Admission is one conditional UPDATE per scope (the database serialises the row), which is what
 * bounds overspending under concurrency to nothing beyond the estimate's error.
 */
export function createBudgets(store: Store): Budgets {
  const { db } = store;
  const fast = store.sqlite === undefined ? undefined : sqliteStatements(store.sqlite, db);

  /** Takes `estimate` off the reservations of `scopes` and adds `actual` to their spend. */
  async function release(
    scopes: BudgetScope[],
    month: string,
    estimate: number,
    actual: number,
  ): Promise<void> {
    if (fast !== undefined) {
      // One job in the shared writer's next transaction, with the request's usage row and audit
      // record: no commit of its own. Reservations only ever shrink here, so a release that
      // commits a moment later can make admission stricter, never looser.
      await fast.writer.run(() => {
        for (const scope of scopes) fast.release.run(estimate, estimate, actual, scope.scope, month);
      });
      return;
    }
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
      const note = (scope: BudgetScope, result: { spent_eur: number; reserved_eur: number }) => {
        reserved.push(scope);
        const soft = scope.limits.budget_soft_eur;
        const committed = Number(result.spent_eur) + Number(result.reserved_eur);
        if (soft !== undefined && committed >= soft) {
          warnings.push(
            `${scope.label} has committed ${eur(committed)} of its ${eur(soft)} soft budget this month`,
          );
        }
      };
      if (fast !== undefined) {
        // SQLite: prepared statements, in the shared writer's next transaction.
        const refused = await fast.reserveAll(budgeted, estimate, month, note);
        if (refused !== undefined) throw await overBudget(refused, month, estimate);
      } else {
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
            throw await overBudget(scope, month, estimate);
          }
          note(scope, result);
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

/**
 * The per-request budget statements on SQLite, prepared once: Kysely would build, compile and
 * prepare each UPDATE again on every request, most of what a reservation cost.
 */
function sqliteStatements(sqlite: SQLite.Database, db: Store["db"]) {
  const ledger = "update budget_ledger set reserved_eur = reserved_eur + ? where scope = ? and month = ?";
  const reserveHard = sqlite.prepare(
    `${ledger} and spent_eur + reserved_eur + ? <= ? returning spent_eur, reserved_eur`,
  );
  const reserveSoft = sqlite.prepare(`${ledger} returning spent_eur, reserved_eur`);
  const ensureRow = sqlite.prepare(
    "insert into budget_ledger (scope, month, spent_eur, reserved_eur) values (?, ?, 0, 0) on conflict (scope, month) do nothing",
  );
  const release = sqlite.prepare(
    "update budget_ledger set reserved_eur = case when reserved_eur > ? then reserved_eur - ? else 0 end, spent_eur = spent_eur + ? where scope = ? and month = ?",
  );
  type Row = { spent_eur: number; reserved_eur: number };
  const tryReserve = (scope: BudgetScope, estimate: number, month: string): Row | undefined => {
    const hard = scope.limits.budget_hard_eur;
    return (
      hard === undefined
        ? reserveSoft.get(estimate, scope.scope, month)
        : reserveHard.get(estimate, scope.scope, month, estimate, hard)
    ) as Row | undefined;
  };
  const giveBack = (scopes: BudgetScope[], estimate: number, month: string) => {
    for (const scope of scopes) release.run(estimate, estimate, 0, scope.scope, month);
  };
  /** Reserves on every scope or none; returns the scope that refused, if one did. */
  const reserveAll = (
    scopes: BudgetScope[],
    estimate: number,
    month: string,
    reserved: (scope: BudgetScope, row: Row) => void,
  ): BudgetScope | undefined => {
    const rows: Array<[BudgetScope, Row]> = [];
    try {
      for (const scope of scopes) {
        let row = tryReserve(scope, estimate, month);
        if (row === undefined) {
          // First request of the month for this scope, or over budget: make sure the row exists.
          ensureRow.run(scope.scope, month);
          row = tryReserve(scope, estimate, month);
        }
        if (row === undefined) {
          giveBack(
            rows.map(([done]) => done),
            estimate,
            month,
          );
          return scope;
        }
        rows.push([scope, row]);
      }
    } catch (error) {
      // The writer's transaction commits the other jobs: take back what this one reserved.
      giveBack(
        rows.map(([done]) => done),
        estimate,
        month,
      );
      throw error;
    }
    for (const [scope, row] of rows) reserved(scope, row);
    return undefined;
  };
  const writer = sharedSqliteWriter(sqlite, (work) => db.connection().execute(work));
  return {
    release,
    writer,
    /**
     * One job of the shared writer: the request's reservations go out in the same transaction as
     * other requests' reservations, usage rows and audit records (group commit), instead of a
     * commit each. Each UPDATE is conditional and runs alone (the batch is synchronous), so the
     * hard budget holds exactly as with one transaction per request.
     */
    reserveAll: (
      scopes: BudgetScope[],
      estimate: number,
      month: string,
      reserved: (scope: BudgetScope, row: Row) => void,
    ): Promise<BudgetScope | undefined> => writer.run(() => reserveAll(scopes, estimate, month, reserved)),
  };
}
