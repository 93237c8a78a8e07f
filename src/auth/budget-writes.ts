import type SQLite from "better-sqlite3";
import { sqliteJob } from "../store/sqlite-writer.ts";

/** One scope to reserve on: its ledger scope, the amount and its hard budget (null: none). */
export type BudgetAsk = [scope: string, amount: number, hard: number | null];

/** A reservation's answer: the index of the scope that refused (-1: none), and each reserved scope's spend and reservations after it. */
export type BudgetReserved = [refused: number, rows: Array<[spent: number, reserved: number]>];

/**
 * Releases: per scope and month, the amount leaving its reservations and the amount added to its
 * spend. Settlements queued in one turn fold into one release (see `foldBudgetRelease`).
 */
export type BudgetRelease = [
  entries: Array<[scope: string, month: string, decrement: number, actual: number]>,
  holder: BudgetHolder,
];

/** Adds `more`'s amounts to `queued`, per scope and month (the holder is the same instance's). */
export function foldBudgetRelease(queued: BudgetRelease, more: BudgetRelease): void {
  const entries = queued[0];
  for (const entry of more[0]) {
    const same = entries.find((known) => known[0] === entry[0] && known[1] === entry[1]);
    if (same === undefined) entries.push([...entry]);
    else {
      same[2] += entry[2];
      same[3] += entry[3];
    }
  }
  queued[1] = more[1];
}

/** Who holds a reservation (this instance) and until when (ms since the epoch) unless renewed. */
export type BudgetHolder = [owner: string, expiresAt: number];

/** SQL of the holds (SQLite). */
const holdSql = {
  add: "insert into budget_holds (scope, month, owner, amount, expires_at) values (?, ?, ?, ?, ?) on conflict (scope, month, owner) do update set amount = budget_holds.amount + excluded.amount, expires_at = excluded.expires_at",
  take: "update budget_holds set amount = case when amount > ? then amount - ? else 0 end, expires_at = ? where scope = ? and month = ? and owner = ?",
  renew: "update budget_holds set expires_at = ? where owner = ? and amount > 0",
  expired: "select scope, month, owner, amount from budget_holds where expires_at < ?",
  ledgerRelease:
    "update budget_ledger set reserved_eur = case when reserved_eur > ? then reserved_eur - ? else 0 end where scope = ? and month = ?",
  drop: "delete from budget_holds where scope = ? and month = ? and owner = ? and expires_at < ?",
};

/**
 * Reserves on every scope or none, as a job of the database's shared writer: each conditional
 * UPDATE runs alone in the writer's transaction (the batch is synchronous), so the hard budget
 * holds exactly as with one transaction per request. A refusal, or an error, gives back what the
 * earlier scopes reserved before the job ends: the writer commits the other jobs of its batch.
 */
export function prepareBudgetReserve(
  sqlite: SQLite.Database,
): (args: [month: string, asked: BudgetAsk[], holder: BudgetHolder]) => BudgetReserved {
  const ledger = "update budget_ledger set reserved_eur = reserved_eur + ? where scope = ? and month = ?";
  const reserveHard = sqlite
    .prepare(`${ledger} and spent_eur + reserved_eur + ? <= ? returning spent_eur, reserved_eur`)
    .raw();
  const reserveSoft = sqlite.prepare(`${ledger} returning spent_eur, reserved_eur`).raw();
  const ensureRow = sqlite.prepare(
    "insert into budget_ledger (scope, month, spent_eur, reserved_eur) values (?, ?, 0, 0) on conflict (scope, month) do nothing",
  );
  const release = prepareRelease(sqlite);
  const hold = sqlite.prepare(holdSql.add);
  const tryReserve = ([scope, amount, hard]: BudgetAsk, month: string) =>
    (hard === null
      ? reserveSoft.get(amount, scope, month)
      : reserveHard.get(amount, scope, month, amount, hard)) as [number, number] | undefined;
  return ([month, asked, [owner, expiresAt]]) => {
    const rows: Array<[number, number]> = [];
    const giveBack = () => {
      for (let index = 0; index < rows.length; index++)
        release.run(asked[index]![1], asked[index]![1], 0, asked[index]![0], month);
    };
    try {
      for (let index = 0; index < asked.length; index++) {
        const entry = asked[index]!;
        let row = tryReserve(entry, month);
        if (row === undefined) {
          // First request of the month for this scope, or over budget: make sure the row exists.
          ensureRow.run(entry[0], month);
          row = tryReserve(entry, month);
        }
        if (row === undefined) {
          giveBack();
          return [index, []];
        }
        rows.push([Number(row[0]), Number(row[1])]);
      }
    } catch (error) {
      giveBack();
      throw error;
    }
    for (const [scope, amount] of asked) hold.run(scope, month, owner, amount, expiresAt);
    return [-1, rows];
  };
}

function prepareRelease(sqlite: SQLite.Database) {
  return sqlite.prepare(
    "update budget_ledger set reserved_eur = case when reserved_eur > ? then reserved_eur - ? else 0 end, spent_eur = spent_eur + ? where scope = ? and month = ?",
  );
}

/** Takes each scope's decrement off its reservations and adds the actual cost to its spend. */
export function prepareBudgetRelease(sqlite: SQLite.Database): (args: BudgetRelease) => void {
  const release = prepareRelease(sqlite);
  const take = sqlite.prepare(holdSql.take);
  return ([entries, [owner, expiresAt]]) => {
    for (const [scope, month, decrement, actual] of entries) {
      release.run(decrement, decrement, actual, scope, month);
      take.run(decrement, decrement, expiresAt, scope, month, owner);
    }
  };
}

/**
 * Gives back what expired holds (of instances that stopped renewing them: crashed, killed) still
 * reserve in the ledger, and drops them; renews this instance's own holds first. Returns how many
 * holds it released.
 */
export function prepareBudgetSweep(
  sqlite: SQLite.Database,
): (args: [holder: BudgetHolder, now: number]) => number {
  const renew = sqlite.prepare(holdSql.renew);
  const expired = sqlite.prepare(holdSql.expired);
  const release = sqlite.prepare(holdSql.ledgerRelease);
  const drop = sqlite.prepare(holdSql.drop);
  // A savepoint inside the writer's transaction: a hold is released and dropped together or not at all.
  return sqlite.transaction(([[owner, expiresAt], now]: [BudgetHolder, number]) => {
    renew.run(expiresAt, owner);
    const rows = expired.all(now) as Array<{ scope: string; month: string; owner: string; amount: number }>;
    for (const row of rows) {
      if (row.amount > 0) release.run(row.amount, row.amount, row.scope, row.month);
      drop.run(row.scope, row.month, row.owner, now);
    }
    return rows.length;
  });
}

export const budgetReserveJob = sqliteJob(import.meta.url, "prepareBudgetReserve", prepareBudgetReserve);
export const budgetReleaseJob = sqliteJob(import.meta.url, "prepareBudgetRelease", prepareBudgetRelease);
export const budgetSweepJob = sqliteJob(import.meta.url, "prepareBudgetSweep", prepareBudgetSweep);
