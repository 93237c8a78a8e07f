import { userInfo } from "node:os";
import { type Command, InvalidArgumentError } from "commander";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { pino } from "pino";
import { type AuditLog, auditAdminActions, openAuditLog } from "../audit/index.ts";
import { openConfiguredStore, policyNames } from "../auth/control-plane.ts";
import { createAuth, ensureDefaultTenant } from "../auth/index.ts";
import { loadConfig } from "../config/config.ts";
import { dataDir } from "../config/paths.ts";
import { BastionError } from "../core/errors.ts";
import { anonymousPrincipal } from "../core/principal.ts";
import { createUsageStore } from "../metering/usage-store.ts";
import { registerAdminApi } from "../server/admin/index.ts";
import { toErrorResponse } from "../server/error-response.ts";
import type { ServerEnv } from "../server/server-env.ts";
import { defaultApiKey } from "./api-key.ts";
import { formatTable } from "./table.ts";

/** Options every admin command takes. */
export interface AdminConnectionOptions {
  url?: string;
  apiKey?: string;
  config?: string;
  json?: boolean;
}

/** Speaks the admin API, to a running server (`--url`) or in process over the data directory's store. */
export interface AdminClient {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** Adds `--url`, `--api-key`, `--config` and `--json` to an admin command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option("-u, --url <url>", "a running server (default: work on the data directory's database directly)")
    .option("--api-key <key>", "admin key for --url (default: BASTION_API_KEY, else <data dir>/admin-key)")
    .option("-c, --config <file>", "config file, for the database location (or BASTION_CONFIG)")
    .option("--json", "print JSON");
}

/** Opens the admin client the options ask for. */
export async function openAdminClient(options: AdminConnectionOptions): Promise<AdminClient> {
  return options.url === undefined ? openLocalClient(options) : openRemoteClient(options.url, options.apiKey);
}

function openRemoteClient(url: string, explicitKey: string | undefined): AdminClient {
  const base = url.replace(/\/+$/, "").replace(/\/v1$/, "");
  const key = explicitKey ?? defaultApiKey();
  return {
    async call(method, path, body) {
      const response = await fetch(`${base}/admin/v1${path}`, {
        method,
        headers: {
          ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).catch((error: unknown) => {
        throw new BastionError(
          "not_ready",
          `Cannot reach ${base}: ${(error as Error).message}. Is \`bastion serve\` running?`,
        );
      });
      return readAnswer(
        response,
        response.status === 401 ? " (pass --api-key or set BASTION_API_KEY to an admin key)" : "",
      );
    },
    close: async () => {},
  };
}

/**
 * Who runs the CLI, for the audit log: `cli:<os user>`. The local client acts as the anonymous
 * admin (no credential), so this is what says who made a change.
 */
export function localOperator(): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): fall back to the environment.
    name = process.env.USER ?? process.env.LOGNAME;
  }
  return `cli:${name === undefined || name === "" ? "unknown" : name}`;
}

/**
 * In process: the same admin routes as the server, over the store the server would open, acting as
 * an admin of the default tenant (whoever can read the data directory owns the installation anyway).
 * Changes are audited as the server audits them, signed with the data directory's audit key, with
 * the operator (`cli:<os user>`) in the record's details.
 */
async function openLocalClient(options: AdminConnectionOptions): Promise<AdminClient> {
  const config = loadConfig(options.config === undefined ? {} : { file: options.config });
  const directory = dataDir();
  const store = await openConfiguredStore(config, { dataDir: directory });
  let audit: AuditLog | undefined;
  try {
    await ensureDefaultTenant(store);
    const auth = createAuth({
      store,
      config: { ...config, auth: { ...config.auth, enabled: true } },
      policyNames: policyNames(config),
    });
    audit = config.audit.enabled
      ? openAuditLog({ config: config.audit, store, dataDir: directory })
      : undefined;
    if (audit !== undefined) auditAdminActions(auth.admin, audit, { operator: localOperator() });
    // Erasure reaches usage and audit too, as on the server.
    const log = audit;
    auth.admin.onErase(async (user, actor) => {
      await createUsageStore(store).eraseUser(user.id);
      await log?.eraseUser(user.id, actor);
    });
    const app = new Hono<ServerEnv>();
    app.use(async (c, next) => {
      c.set("principal", anonymousPrincipal);
      c.set("logger", pino({ level: "silent" }));
      await next();
    });
    registerAdminApi(app, auth);
    app.onError((error, c) => {
      const response = toErrorResponse(error, undefined);
      return c.json(response.body, response.status as ContentfulStatusCode);
    });
    return {
      async call(method, path, body) {
        const response = await app.request(`/admin/v1${path}`, {
          method,
          ...(body === undefined
            ? {}
            : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
        });
        return readAnswer(response, "");
      },
      async close() {
        try {
          // Signs a checkpoint over what this command appended, so that `audit verify` covers it.
          await log?.close();
        } finally {
          await store.destroy();
        }
      },
    };
  } catch (error) {
    await audit?.close().catch(() => {});
    await store.destroy();
    throw error;
  }
}

async function readAnswer<T>(response: Response, hint: string): Promise<T> {
  const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!response.ok) {
    throw new BastionError(
      "invalid_request",
      `${response.status}: ${body.error?.message ?? response.statusText}${hint}`,
    );
  }
  return body as T;
}

/** Runs `work` with a client and closes it whatever happens. */
export async function withAdminClient<T>(
  options: AdminConnectionOptions,
  work: (client: AdminClient) => Promise<T>,
): Promise<T> {
  const client = await openAdminClient(options);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/** Prints objects as an aligned table of `columns`, or as JSON. */
export function printRecords(
  records: Array<Record<string, unknown>>,
  columns: string[],
  json: boolean | undefined,
): void {
  if (json === true) {
    process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    return;
  }
  const cell = (value: unknown): string =>
    value === null || value === undefined
      ? "-"
      : typeof value === "object"
        ? Object.keys(value).length === 0
          ? "-"
          : JSON.stringify(value)
        : String(value);
  const rows = records.map((record) => columns.map((column) => cell(record[column])));
  process.stdout.write(`${formatTable([columns.map((column) => column.toUpperCase()), ...rows])}\n`);
}

/** Prints one object as a one-row table, or as a JSON object. */
export function printRecord(
  record: Record<string, unknown>,
  columns: string[],
  json: boolean | undefined,
): void {
  if (json === true) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
  else printRecords([record], columns, false);
}

/** Limit options shared by tenants and keys. */
export function withLimitOptions(command: Command): Command {
  const positive = (name: string) => (value: string) => {
    const number = Number(value);
    if (!Number.isFinite(number) || number < 0)
      throw new InvalidArgumentError(`${name} takes a number >= 0.`);
    return number;
  };
  return command
    .option("--rpm <n>", "requests per minute", positive("--rpm"))
    .option("--tpm <n>", "tokens per minute", positive("--tpm"))
    .option("--concurrency <n>", "requests at once", positive("--concurrency"))
    .option("--budget-soft <eur>", "monthly soft budget in EUR (warning header)", positive("--budget-soft"))
    .option(
      "--budget-hard <eur>",
      "monthly hard budget in EUR (429 once reached)",
      positive("--budget-hard"),
    );
}

export interface LimitOptions {
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  budgetSoft?: number;
  budgetHard?: number;
}

/** The `limits` object of an admin request, or undefined when no limit option was given. */
export function limitsFrom(options: LimitOptions): Record<string, number> | undefined {
  const limits: Record<string, number> = {};
  if (options.rpm !== undefined) limits.rpm = options.rpm;
  if (options.tpm !== undefined) limits.tpm = options.tpm;
  if (options.concurrency !== undefined) limits.concurrency = options.concurrency;
  if (options.budgetSoft !== undefined) limits.budget_soft_eur = options.budgetSoft;
  if (options.budgetHard !== undefined) limits.budget_hard_eur = options.budgetHard;
  return Object.keys(limits).length === 0 ? undefined : limits;
}

/** `a,b` and repeated options -> a list. */
export const collect = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== ""),
];
