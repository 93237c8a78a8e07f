import type { Command } from "commander";
import {
  type AdminConnectionOptions,
  collect,
  printRecord,
  printRecords,
  withAdminClient,
  withConnectionOptions,
} from "./admin-client.ts";

type UserOptions = AdminConnectionOptions & {
  tenant?: string;
  name?: string;
  role?: string[];
  passwordStdin?: boolean;
  disable?: boolean;
  enable?: boolean;
  email?: string;
  erase?: boolean;
};

const columns = ["id", "tenant_id", "email", "name", "roles", "disabled", "has_password"];

async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/** `bastion users list|show|create|update|delete`, over the admin API. */
export function registerUsersCommand(program: Command): void {
  const users = program
    .command("users")
    .description("Manage users (web sign-in; roles admin, member, auditor).");
  withConnectionOptions(
    users.command("list").description("List users.").option("--tenant <id>", "only this tenant's"),
  ).action(async (options: UserOptions) =>
    withAdminClient(options, async (client) => {
      const query = options.tenant === undefined ? "" : `?tenant_id=${encodeURIComponent(options.tenant)}`;
      const { data } = await client.call<{ data: Array<Record<string, unknown>> }>("GET", `/users${query}`);
      printRecords(data, columns, options.json);
    }),
  );
  withConnectionOptions(users.command("show <id>").description("Show a user.")).action(
    async (id: string, options: UserOptions) =>
      withAdminClient(options, async (client) => {
        printRecord(await client.call("GET", `/users/${encodeURIComponent(id)}`), columns, options.json);
      }),
  );
  withConnectionOptions(
    users
      .command("create <email>")
      .description("Create a user; the password, if any, is read from stdin (--password-stdin).")
      .option("--name <name>", "display name")
      .option("--role <role>", "admin, member or auditor (repeatable; default member)", collect)
      .option("--tenant <id>", "tenant (default: yours)")
      .option("--password-stdin", "read the password from stdin"),
  ).action(async (email: string, options: UserOptions) =>
    withAdminClient(options, async (client) => {
      const user = await client.call<Record<string, unknown>>("POST", "/users", {
        email,
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.role === undefined ? {} : { roles: options.role }),
        ...(options.tenant === undefined ? {} : { tenant_id: options.tenant }),
        ...(options.passwordStdin === true ? { password: await readPassword() } : {}),
      });
      printRecord(user, columns, options.json);
    }),
  );
  withConnectionOptions(
    users
      .command("update <id>")
      .description("Change a user's email, name, roles or password; disable or enable them.")
      .option("--email <email>", "new email")
      .option("--name <name>", "display name")
      .option("--role <role>", "replace the roles (repeatable)", collect)
      .option("--password-stdin", "read a new password from stdin (ends their sessions)")
      .option("--disable", "refuse their sign-ins and keys")
      .option("--enable", "allow them again"),
  ).action(async (id: string, options: UserOptions) =>
    withAdminClient(options, async (client) => {
      const user = await client.call<Record<string, unknown>>("PATCH", `/users/${encodeURIComponent(id)}`, {
        ...(options.email === undefined ? {} : { email: options.email }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.role === undefined ? {} : { roles: options.role }),
        ...(options.passwordStdin === true ? { password: await readPassword() } : {}),
        ...(options.disable === true
          ? { disabled: true }
          : options.enable === true
            ? { disabled: false }
            : {}),
      });
      printRecord(user, columns, options.json);
    }),
  );
  withConnectionOptions(
    users
      .command("delete <id>")
      .description("Delete a user with their keys and sessions.")
      .option("--erase", "also erase their personal data from usage and audit (GDPR Art. 17)"),
  ).action(async (id: string, options: UserOptions) =>
    withAdminClient(options, async (client) => {
      await client.call(
        "DELETE",
        `/users/${encodeURIComponent(id)}${options.erase === true ? "?erase=true" : ""}`,
      );
      process.stdout.write(
        `Deleted user ${id}${options.erase === true ? " and erased their personal data" : ""}.\n`,
      );
    }),
  );
}
