import { type Command, Option } from "commander";
import { openConfiguredStore as openStoreFor } from "../auth/control-plane.ts";
import { type BastionConfig, loadConfig } from "../config/config.ts";
import { dataDir } from "../config/paths.ts";
import { BastionError } from "../core/errors.ts";
import { createUsageStore, type UsageRow, usageMetrics } from "../metering/usage-store.ts";
import { parseGroupBy } from "../server/admin/usage-route.ts";
import type { Store } from "../store/database.ts";
import { defaultApiKey } from "./api-key.ts";
import { formatTable } from "./table.ts";

interface UsageOptions {
  from?: string;
  to?: string;
  groupBy?: string;
  tenant?: string;
  json?: boolean;
  csv?: boolean;
  url?: string;
  apiKey?: string;
  config?: string;
}

/** The store a server with this config uses: `DATABASE_URL` / `database.url`, else SQLite in the data directory. */
export function openConfiguredStore(config: Readonly<BastionConfig>): Promise<Store> {
  return openStoreFor(config, { dataDir: dataDir() });
}

/**
 * GETs or POSTs an admin route of a running server with `BASTION_API_KEY` (else the saved admin
 * key, see `defaultApiKey`); errors carry the server's message.
 */
export async function adminRequest(
  url: string,
  path: string,
  method = "GET",
  explicitKey?: string,
): Promise<Response> {
  const key = explicitKey ?? defaultApiKey();
  const response = await fetch(`${url.replace(/\/+$/, "").replace(/\/v1$/, "")}${path}`, {
    method,
    headers: key === undefined || key === "" ? {} : { authorization: `Bearer ${key}` },
  }).catch((error: unknown) => {
    throw new BastionError("not_ready", `Cannot reach ${url}: ${(error as Error).message}`);
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    throw new BastionError(
      "invalid_request",
      `${url}${path}: ${response.status} ${body.error?.message ?? response.statusText}${response.status === 401 ? " (pass --api-key or set BASTION_API_KEY to an admin or auditor key)" : ""}`,
    );
  }
  return response;
}

/**
 * A fixed number of decimals, except that a non-zero value with fewer than three significant
 * digits in them keeps three: a local model costs fractions of a cent per request, and a column of
 * `0.0000` beside the savings read as "free".
 */
export function formatAmount(value: number, decimals: number): string {
  if (value === 0 || Math.abs(value) >= 10 ** (2 - decimals)) return value.toFixed(decimals);
  const needed = 2 - Math.floor(Math.log10(Math.abs(value)));
  return value.toFixed(Math.min(Math.max(needed, decimals), 20));
}

function formatValue(name: string, value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "number") return String(value);
  if (name.endsWith("_eur")) return formatAmount(value, 4);
  if (name === "energy_wh" || name === "co2e_g") return formatAmount(value, 3);
  return String(value);
}

/** A plain-text table, numbers right-aligned. */
export function usageTable(rows: UsageRow[], groups: string[]): string {
  const header = [...groups, ...usageMetrics];
  const lines = rows.map((row) =>
    header.map((name) => formatValue(name, (row as unknown as Record<string, unknown>)[name])),
  );
  const alignRight = usageMetrics.map((_, index) => groups.length + index);
  return formatTable([header, ...lines], { alignRight });
}

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function usageCsv(rows: UsageRow[], groups: string[]): string {
  const header = [...groups, ...usageMetrics];
  return [
    header.join(","),
    ...rows.map((row) =>
      header.map((name) => csvCell((row as unknown as Record<string, unknown>)[name])).join(","),
    ),
  ].join("\n");
}

/** `bastion usage`: tokens, EUR, Wh and gCO2e by day, tenant, user, key, model or backend. */
export function registerUsageCommand(program: Command): void {
  program
    .command("usage")
    .description(
      "Usage report: requests, tokens, cost (EUR), energy (Wh), gCO2e and savings, grouped as asked.",
    )
    .option("--from <date>", "from this day or ISO time (inclusive)")
    .option("--to <date>", "up to this day (included) or ISO time (excluded)")
    .option("-g, --group-by <groups>", "comma-separated: day,tenant,user,key,model,backend")
    .option("--tenant <id>", "only this tenant")
    .option("--json", "print JSON")
    .addOption(new Option("--csv", "print CSV").conflicts("json"))
    .option("-u, --url <url>", "ask a running server (with BASTION_API_KEY) instead of reading the database")
    .option(
      "--api-key <key>",
      "admin or auditor key for --url (default: BASTION_API_KEY, else <data dir>/admin-key)",
    )
    .option("-c, --config <file>", "JSON config file (or BASTION_CONFIG), for the database location")
    .action(async (options: UsageOptions) => {
      const groups = parseGroupBy(options.groupBy);
      let rows: UsageRow[];
      if (options.url !== undefined) {
        const query = new URLSearchParams();
        if (options.from !== undefined) query.set("from", options.from);
        if (options.to !== undefined) query.set("to", options.to);
        if (groups.length > 0) query.set("group_by", groups.join(","));
        if (options.tenant !== undefined) query.set("tenant_id", options.tenant);
        const response = await adminRequest(options.url, `/admin/v1/usage?${query}`, "GET", options.apiKey);
        rows = ((await response.json()) as { data: UsageRow[] }).data;
      } else {
        const config = loadConfig(options.config === undefined ? {} : { file: options.config });
        const store = await openConfiguredStore(config);
        try {
          rows = await createUsageStore(store)
            .report({
              groupBy: groups,
              ...(options.from === undefined ? {} : { from: options.from }),
              ...(options.to === undefined ? {} : { to: options.to }),
              ...(options.tenant === undefined ? {} : { tenantId: options.tenant }),
            })
            .catch((error: unknown) => {
              throw error instanceof RangeError ? new BastionError("invalid_request", error.message) : error;
            });
        } finally {
          await store.destroy();
        }
      }
      if (options.json === true) process.stdout.write(`${JSON.stringify({ data: rows }, null, 2)}\n`);
      else if (options.csv === true) process.stdout.write(`${usageCsv(rows, groups)}\n`);
      else if (rows.length === 0) process.stdout.write("No usage in this period.\n");
      else process.stdout.write(`${usageTable(rows, groups)}\n`);
    });
}
