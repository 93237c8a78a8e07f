import { type Command, InvalidArgumentError } from "commander";
import {
  type AdminConnectionOptions,
  collect,
  type LimitOptions,
  limitsFrom,
  printRecord,
  printRecords,
  withAdminClient,
  withConnectionOptions,
  withLimitOptions,
} from "./admin-client.ts";

type KeyOptions = AdminConnectionOptions &
  LimitOptions & {
    tenant?: string;
    user?: string;
    role?: string[];
    models?: string[];
    endpoints?: string[];
    policies?: string[];
    policy?: string;
    expires?: string;
    name?: string;
  };

const columns = [
  "id",
  "tenant_id",
  "name",
  "prefix",
  "roles",
  "scopes",
  "limits",
  "expires_at",
  "revoked_at",
  "last_used_at",
];

/** `30d`, `12h`, `90m` from now, or an ISO date; `never` clears. */
export function parseExpiry(value: string, now = Date.now()): string | null {
  if (value === "never") return null;
  const relative = /^(\d+)([dhm])$/.exec(value);
  if (relative !== null) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as "d" | "h" | "m"];
    return new Date(now + Number(relative[1]) * unit).toISOString();
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError(`--expires takes 30d, 12h, 90m, an ISO date or "never", not "${value}".`);
  return date.toISOString();
}

function scopesFrom(options: KeyOptions): Record<string, string[]> | undefined {
  const scopes: Record<string, string[]> = {};
  if (options.models !== undefined) scopes.models = options.models;
  if (options.endpoints !== undefined) scopes.endpoints = options.endpoints;
  if (options.policies !== undefined) scopes.policies = options.policies;
  return Object.keys(scopes).length === 0 ? undefined : scopes;
}

function withKeyOptions(command: Command): Command {
  return withLimitOptions(withConnectionOptions(command))
    .option("--models <ids>", "models the key may use (comma-separated; `prefix*` allowed)", collect)
    .option("--endpoints <paths>", "endpoints the key may call, e.g. /v1/chat/* (comma-separated)", collect)
    .option("--policies <names>", "policies the key may choose with x-bastion-use-policy", collect)
    .option("--policy <name>", "the key's policy (default: the tenant's)")
    .option("--expires <when>", "30d, 12h, 90m, an ISO date, or never", expiresOption);
}

/**
 * Checks `--expires` while commander parses, so that a bad value is reported as a usage error: thrown
 * later, from inside the action, commander's InvalidArgumentError ended the command silently.
 */
export function expiresOption(value: string): string {
  parseExpiry(value);
  return value;
}

/** `bastion keys list|show|create|update|revoke`, over the admin API. */
export function registerKeysCommand(program: Command): void {
  const keys = program
    .command("keys")
    .description("Manage API keys (shown once at creation, stored as hashes).");
  withConnectionOptions(
    keys.command("list").description("List keys.").option("--tenant <id>", "only this tenant's"),
  ).action(async (options: KeyOptions) =>
    withAdminClient(options, async (client) => {
      const query = options.tenant === undefined ? "" : `?tenant_id=${encodeURIComponent(options.tenant)}`;
      const { data } = await client.call<{ data: Array<Record<string, unknown>> }>("GET", `/keys${query}`);
      printRecords(data, columns, options.json);
    }),
  );
  withConnectionOptions(keys.command("show <id>").description("Show a key and this month's spend.")).action(
    async (id: string, options: KeyOptions) =>
      withAdminClient(options, async (client) => {
        printRecords(
          [await client.call("GET", `/keys/${encodeURIComponent(id)}`)],
          [...columns, "budget"],
          options.json,
        );
      }),
  );
  withKeyOptions(
    keys
      .command("create <name>")
      .description("Create a key and print its secret, once.")
      .option("--tenant <id>", "tenant (default: yours)")
      .option("--user <id>", "the user the key acts for")
      .option(
        "--role <role>",
        "admin, member or auditor (repeatable; default member, or the user's roles)",
        collect,
      ),
  ).action(async (name: string, options: KeyOptions) =>
    withAdminClient(options, async (client) => {
      const scopes = scopesFrom(options);
      const limits = limitsFrom(options);
      const key = await client.call<Record<string, unknown> & { secret: string }>("POST", "/keys", {
        name,
        ...(options.tenant === undefined ? {} : { tenant_id: options.tenant }),
        ...(options.user === undefined ? {} : { user_id: options.user }),
        ...(options.role === undefined ? {} : { roles: options.role }),
        ...(scopes === undefined ? {} : { scopes }),
        ...(limits === undefined ? {} : { limits }),
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        ...(options.expires === undefined ? {} : { expires_at: parseExpiry(options.expires) }),
      });
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify(key, null, 2)}\n`);
        return;
      }
      process.stderr.write(
        `Created key ${String(key.id)} (${String(key.prefix)}). Its secret, shown this once:\n`,
      );
      process.stdout.write(`${key.secret}\n`);
    }),
  );
  withKeyOptions(
    keys
      .command("update <id>")
      .description("Change a key's name, scopes, policy, limits or expiry.")
      .option("--name <name>", "new name"),
  ).action(async (id: string, options: KeyOptions) =>
    withAdminClient(options, async (client) => {
      const scopes = scopesFrom(options);
      const limits = limitsFrom(options);
      const key = await client.call<Record<string, unknown>>("PATCH", `/keys/${encodeURIComponent(id)}`, {
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(scopes === undefined ? {} : { scopes }),
        ...(limits === undefined ? {} : { limits }),
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        ...(options.expires === undefined ? {} : { expires_at: parseExpiry(options.expires) }),
      });
      printRecord(key, columns, options.json);
    }),
  );
  withConnectionOptions(
    keys.command("revoke <id>").description("Revoke a key: its next request is refused."),
  ).action(async (id: string, options: KeyOptions) =>
    withAdminClient(options, async (client) => {
      const key = await client.call<Record<string, unknown>>(
        "POST",
        `/keys/${encodeURIComponent(id)}/revoke`,
      );
      printRecord(key, columns, options.json);
    }),
  );
}
