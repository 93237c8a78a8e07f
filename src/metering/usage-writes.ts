import type SQLite from "better-sqlite3";
import { eachItem, type ItemOutcome, sqliteJob } from "../store/sqlite-writer.ts";
import type { UsageRecordsTable } from "./tables.ts";

/** The usage table's columns, in the order `usageValues` lists a row's values. */
export const usageColumns = [
  "id",
  "created_at",
  "day",
  "tenant_id",
  "user_id",
  "key_id",
  "endpoint",
  "requested_model",
  "model",
  "backend",
  "backend_kind",
  "country",
  "zone",
  "status",
  "error_code",
  "policy",
  "data_class",
  "policy_action",
  "detections",
  "input_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cached_tokens",
  "queue_ms",
  "ttft_ms",
  "total_ms",
  "busy_ms",
  "concurrency",
  "cost_eur",
  "energy_wh",
  "co2e_g",
  "reference_cost_eur",
  "saved_eur",
] as const satisfies ReadonlyArray<keyof UsageRecordsTable>;

/** A usage row as the values of `usageColumns`, in order: what crosses to the writer's thread. */
export type UsageValues = Array<string | number | null>;

/**
 * How many rows already carry `<id>#<n>` ids (bounds `<id>#` and `<id>$`: '$' follows '#'), so
 * that the next duplicate of a request id starts its search after them rather than at `#2`.
 */
const usedSuffixesSql = "select count(*) from usage_records where id >= ? and id < ?";

/**
 * The SQLite insert of a usage row, as a job of the database's shared writer. Bound by position:
 * binding 33 values by name looks each one up on an object. The id is the request id, which a
 * client may choose (`X-Request-Id`): a second request with an id already stored gets a row of its
 * own under `<id>#<n>`, so that reusing an id cannot hide a request from metering or budgets.
 */
export function prepareUsageInsert(sqlite: SQLite.Database): (values: UsageValues) => void {
  const insert = sqlite.prepare(
    `insert into usage_records (${usageColumns.join(", ")}) values (${usageColumns.map(() => "?").join(", ")}) on conflict (id) do nothing`,
  );
  const suffixed = sqlite.prepare(usedSuffixesSql).pluck();
  return (values) => {
    if (insert.run(values).changes > 0) return;
    const id = String(values[0]);
    let next = Number(suffixed.get(`${id}#`, `${id}$`)) + 2;
    for (;;) {
      values[0] = `${id}#${next++}`;
      if (insert.run(values).changes > 0) return;
    }
  };
}

export const usageInsertJob = sqliteJob(import.meta.url, "prepareUsageInsert", prepareUsageInsert);

/**
 * Several usage rows as one job (the rows of one turn fold into it, see `runItem`); a row that
 * fails, fails alone.
 */
export function prepareUsageInserts(
  sqlite: SQLite.Database,
): (rows: UsageValues[]) => Array<ItemOutcome<void>> {
  return eachItem(prepareUsageInsert(sqlite));
}

export const usageInsertsJob = sqliteJob(import.meta.url, "prepareUsageInserts", prepareUsageInserts);
