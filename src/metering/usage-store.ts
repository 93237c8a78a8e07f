import { type Insertable, sql } from "kysely";
import { createGroupCommit } from "../audit/group-commit.ts";
import type { CompletedRequest } from "../core/request-record.ts";
import type { Store } from "../store/database.ts";
import { runItem, runItemLater, sharedSqliteWriter } from "../store/sqlite-writer.ts";
import type { PricedRequest } from "./meter.ts";
import type { UsageRecordsTable } from "./tables.ts";
import { type UsageValues, usageInsertsJob } from "./usage-writes.ts";

export const usageGroups = ["day", "tenant", "user", "key", "model", "backend"] as const;
export type UsageGroup = (typeof usageGroups)[number];

const groupColumn = {
  day: "day",
  tenant: "tenant_id",
  user: "user_id",
  key: "key_id",
  model: "model",
  backend: "backend",
} as const satisfies Record<UsageGroup, string>;

export interface UsageQuery {
  /** Inclusive lower bound, ISO date or timestamp. */
  from?: string;
  /** Exclusive upper bound; a bare date `YYYY-MM-DD` means the end of that day. */
  to?: string;
  groupBy?: UsageGroup[];
  /** Restrict to one tenant (a tenant admin sees only their own). */
  tenantId?: string;
}

/** The measures of a usage report line, in the order reports show them. */
export const usageMetrics = [
  "requests",
  "input_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cached_tokens",
  "cost_eur",
  "energy_wh",
  "co2e_g",
  "reference_cost_eur",
  "saved_eur",
] as const;

/** One line of a usage report, in the wire names of `GET /admin/v1/usage`. */
export interface UsageRow {
  day?: string;
  tenant?: string | null;
  user?: string | null;
  key?: string | null;
  model?: string;
  backend?: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  cost_eur: number;
  energy_wh: number;
  co2e_g: number;
  reference_cost_eur: number;
  saved_eur: number;
}

export interface UsageStore {
  /**
   * Writes the request's row. The same record reported twice is one row; another request that
   * reuses its request id (a client's X-Request-Id) gets its own row, under `<id>#<n>`.
   */
  insert(record: CompletedRequest, priced: PricedRequest): Promise<void>;
  /**
   * As `insert`, for the request path: `journaled` resolves once the row survives a crash (on
   * SQLite: in the shared writer's write-ahead journal, see `SqliteWriter.runLater`), `committed`
   * once it is in the table. Reports and erasure see every row written before they were asked.
   */
  insertLater(
    record: CompletedRequest,
    priced: PricedRequest,
  ): { journaled: Promise<void>; committed: Promise<void> };
  report(query?: UsageQuery): Promise<UsageRow[]>;
  /** GDPR Art. 17: the user's rows stay in the totals but lose their user and key ids. */
  eraseUser(userId: string): Promise<number>;
}

/** Bounds as ISO text comparable with `created_at`; a bare date as `to` includes that whole day. */
export function usageBounds(query: Pick<UsageQuery, "from" | "to">): { from?: string; to?: string } {
  const bound = (text: string, end: boolean): string => {
    const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
    const date = new Date(dateOnly ? `${text}T00:00:00.000Z` : text);
    if (Number.isNaN(date.getTime()))
      throw new RangeError(`"${text}" is not a date; use YYYY-MM-DD or an ISO timestamp.`);
    if (dateOnly && end) date.setUTCDate(date.getUTCDate() + 1);
    return date.toISOString();
  };
  return {
    ...(query.from === undefined ? {} : { from: bound(query.from, false) }),
    ...(query.to === undefined ? {} : { to: bound(query.to, true) }),
  };
}

export function toRow(record: CompletedRequest, priced: PricedRequest): Insertable<UsageRecordsTable> {
  const created = record.startedAt.toISOString();
  const principal = record.principal;
  return {
    id: record.requestId,
    created_at: created,
    day: created.slice(0, 10),
    tenant_id: principal?.tenantId ?? null,
    user_id: principal?.userId ?? null,
    key_id: principal?.keyId ?? null,
    endpoint: record.endpoint,
    requested_model: record.requestedModel,
    model: record.model,
    backend: record.backend,
    backend_kind: record.backendKind,
    country: record.jurisdiction.country,
    zone: record.jurisdiction.zone,
    status: record.status,
    error_code: record.errorCode ?? null,
    policy: record.policy.policy,
    data_class: record.policy.dataClass,
    policy_action: record.policy.action,
    detections: JSON.stringify(record.policy.detections),
    input_tokens: record.usage.promptTokens,
    output_tokens: record.usage.completionTokens,
    reasoning_tokens: record.usage.reasoningTokens,
    cached_tokens: record.usage.cachedPromptTokens,
    queue_ms: Math.round(record.timings.queueMs),
    ttft_ms: Math.round(record.timings.ttftMs),
    total_ms: Math.round(record.timings.totalMs),
    busy_ms: Math.round(record.timings.busyMs),
    concurrency: record.concurrency ?? 1,
    cost_eur: priced.costEur,
    energy_wh: priced.energyWh,
    co2e_g: priced.co2eG,
    reference_cost_eur: priced.referenceCostEur,
    saved_eur: priced.savedEur,
  };
}

/** The usage table: one row per request, summed by the groups a report asks for. */
export function createUsageStore(store: Store): UsageStore {
  const { db } = store;
  // SQLite: a job of the database's shared writer, in the same transaction as the request's audit
  // record (in its worker thread for a database file). PostgreSQL: rows that arrive while an
  // insert runs go out together in the next one (group commit).
  const sqliteWriter = store.sqlite === undefined ? undefined : sharedSqliteWriter(store.sqlite);
  const writer = createGroupCommit<Insertable<UsageRecordsTable>, void>(async (rows) => {
    const inserted = await db
      .insertInto("usage_records")
      .values(rows)
      .onConflict((conflict) => conflict.column("id").doNothing())
      .returning("id")
      .execute();
    if (inserted.length < rows.length) {
      // Request ids a client reused (X-Request-Id): each such request gets a row of its own
      // under `<id>#<n>`, as on SQLite (see prepareUsageInsert).
      const stored = new Set(inserted.map((row) => row.id));
      for (const row of rows) {
        if (stored.has(row.id)) {
          stored.delete(row.id);
          continue;
        }
        await insertSuffixed(row);
      }
    }
    return rows.map(() => undefined);
  }, 50);
  async function insertSuffixed(row: Insertable<UsageRecordsTable>): Promise<void> {
    const id = row.id;
    let next =
      Number(
        (
          await db
            .selectFrom("usage_records")
            .select((eb) => eb.fn.countAll<number | string>().as("count"))
            .where("id", ">=", `${id}#`)
            .where("id", "<", `${id}$`)
            .executeTakeFirstOrThrow()
        ).count,
      ) + 2;
    for (;;) {
      const inserted = await db
        .insertInto("usage_records")
        .values({ ...row, id: `${id}#${next++}` })
        .onConflict((conflict) => conflict.column("id").doNothing())
        .returning("id")
        .execute();
      if (inserted.length > 0) return;
    }
  }
  // The same record reported twice (by two layers of one request) is one row; another request
  // that reuses its id is another row (see prepareUsageInsert).
  const reported = new WeakSet<CompletedRequest>();
  const insertRow = (row: Insertable<UsageRecordsTable>): Promise<void> => {
    if (sqliteWriter === undefined) return writer.add(row);
    // toRow lists the columns in usageColumns' order (a test holds it to that).
    // The rows of one turn fold into one job of the writer (one promise and outcome per turn).
    return runItem(sqliteWriter, usageInsertsJob, Object.values(row) as UsageValues, "usage row");
  };
  const insert = (record: CompletedRequest, priced: PricedRequest): Promise<void> => {
    if (reported.has(record)) return Promise.resolve();
    reported.add(record);
    return insertRow(toRow(record, priced));
  };
  return {
    insert,

    insertLater(record, priced) {
      if (sqliteWriter === undefined || reported.has(record)) {
        const committed = insert(record, priced);
        return { journaled: committed, committed };
      }
      reported.add(record);
      return runItemLater(
        sqliteWriter,
        usageInsertsJob,
        Object.values(toRow(record, priced)) as UsageValues,
        "usage row",
      );
    },

    async report(query = {}) {
      // Rows still waiting for their transaction belong in the report.
      await sqliteWriter?.flushed();
      const groups = [...new Set(query.groupBy ?? [])];
      const bounds = usageBounds(query);
      let select = db.selectFrom("usage_records");
      if (bounds.from !== undefined) select = select.where("created_at", ">=", bounds.from);
      if (bounds.to !== undefined) select = select.where("created_at", "<", bounds.to);
      if (query.tenantId !== undefined) select = select.where("tenant_id", "=", query.tenantId);
      const columns = groups.map((group) => groupColumn[group]);
      const rows = await select
        .select(columns.map((column, index) => sql.ref(column).as(`g${index}`)))
        .select((eb) => [
          eb.fn.countAll<number | string>().as("requests"),
          eb.fn.sum<number | string>("input_tokens").as("input_tokens"),
          eb.fn.sum<number | string>("output_tokens").as("output_tokens"),
          eb.fn.sum<number | string>("reasoning_tokens").as("reasoning_tokens"),
          eb.fn.sum<number | string>("cached_tokens").as("cached_tokens"),
          eb.fn.sum<number | string>("cost_eur").as("cost_eur"),
          eb.fn.sum<number | string>("energy_wh").as("energy_wh"),
          eb.fn.sum<number | string>("co2e_g").as("co2e_g"),
          eb.fn.sum<number | string>("reference_cost_eur").as("reference_cost_eur"),
          eb.fn.sum<number | string>("saved_eur").as("saved_eur"),
        ])
        .$if(columns.length > 0, (builder) => {
          let grouped = builder.groupBy(columns.map((column) => sql.ref(column)));
          for (const index of columns.keys()) grouped = grouped.orderBy(sql.ref(`g${index}`));
          return grouped;
        })
        .execute();
      return rows
        .map((row) => {
          const raw = row as Record<string, unknown>;
          const out: Record<string, unknown> = {};
          groups.forEach((group, index) => {
            out[group] = raw[`g${index}`] ?? null;
          });
          for (const name of usageMetrics) out[name] = Number(raw[name] ?? 0);
          return out as unknown as UsageRow;
        })
        .filter((row) => row.requests > 0);
    },

    async eraseUser(userId) {
      // Rows written before the erasure lose their ids too.
      await sqliteWriter?.flushed();
      const result = await db
        .updateTable("usage_records")
        .set({ user_id: null, key_id: null })
        .where("user_id", "=", userId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
  };
}
