import type { Command } from "commander";
import {
  type AdminConnectionOptions,
  type LimitOptions,
  limitsFrom,
  printRecord,
  printRecords,
  withAdminClient,
  withConnectionOptions,
  withLimitOptions,
} from "./admin-client.ts";

type TenantOptions = AdminConnectionOptions & LimitOptions & { name?: string; policy?: string };

const columns = ["id", "name", "policy", "limits", "created_at"];

/** `bastion tenants list|show|create|update|delete`, over the admin API. */
export function registerTenantsCommand(program: Command): void {
  const tenants = program
    .command("tenants")
    .description("Manage tenants (admins of the default tenant manage all of them).");
  withConnectionOptions(tenants.command("list").description("List tenants.")).action(
    async (options: TenantOptions) =>
      withAdminClient(options, async (client) => {
        const { data } = await client.call<{ data: Array<Record<string, unknown>> }>("GET", "/tenants");
        printRecords(data, columns, options.json);
      }),
  );
  withConnectionOptions(
    tenants.command("show <id>").description("Show a tenant and this month's spend."),
  ).action(async (id: string, options: TenantOptions) =>
    withAdminClient(options, async (client) => {
      const tenant = await client.call<Record<string, unknown>>("GET", `/tenants/${encodeURIComponent(id)}`);
      printRecord(tenant, [...columns, "budget"], options.json);
    }),
  );
  withLimitOptions(
    withConnectionOptions(
      tenants
        .command("create <id>")
        .description("Create a tenant.")
        .option("--name <name>", "display name (default: the id)")
        .option("--policy <name>", "named policy for the tenant's requests"),
    ),
  ).action(async (id: string, options: TenantOptions) =>
    withAdminClient(options, async (client) => {
      const limits = limitsFrom(options);
      const tenant = await client.call<Record<string, unknown>>("POST", "/tenants", {
        id,
        name: options.name ?? id,
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        ...(limits === undefined ? {} : { limits }),
      });
      printRecord(tenant, columns, options.json);
    }),
  );
  withLimitOptions(
    withConnectionOptions(
      tenants
        .command("update <id>")
        .description("Change a tenant's name, policy or limits (limits given replace the old ones).")
        .option("--name <name>", "display name")
        .option("--policy <name>", 'named policy ("" for the default)'),
    ),
  ).action(async (id: string, options: TenantOptions) =>
    withAdminClient(options, async (client) => {
      const limits = limitsFrom(options);
      const tenant = await client.call<Record<string, unknown>>(
        "PATCH",
        `/tenants/${encodeURIComponent(id)}`,
        {
          ...(options.name === undefined ? {} : { name: options.name }),
          ...(options.policy === undefined ? {} : { policy: options.policy === "" ? null : options.policy }),
          ...(limits === undefined ? {} : { limits }),
        },
      );
      printRecord(tenant, columns, options.json);
    }),
  );
  withConnectionOptions(
    tenants.command("delete <id>").description("Delete a tenant with its users, keys and sessions."),
  ).action(async (id: string, options: TenantOptions) =>
    withAdminClient(options, async (client) => {
      await client.call("DELETE", `/tenants/${encodeURIComponent(id)}`);
      process.stdout.write(`Deleted tenant ${id}.\n`);
    }),
  );
}
