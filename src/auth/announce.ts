import type { Logger } from "pino";
import { bootstrapAdminKey } from "./bootstrap.ts";
import type { Auth } from "./index.ts";

/**
 * At server start: creates the first admin key when there is none (shown once on stderr, saved to
 * `<dataDir>/admin-key`; the log says where, never the key), and says loudly when auth is off.
 */
export async function announceAuth(options: {
  auth: Auth;
  dataDir: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  stderr?: NodeJS.WritableStream;
}): Promise<void> {
  const { auth, logger } = options;
  const env = options.env ?? process.env;
  if (!auth.enabled) {
    logger.warn(
      "AUTH IS OFF (auth.enabled: false / --no-auth): anyone who can reach this loopback port is an admin. Never do this on a shared machine.",
    );
    return;
  }
  const result = await bootstrapAdminKey({ store: auth.store, dataDir: options.dataDir, env });
  if (env.BASTION_ADMIN_KEY !== undefined && env.BASTION_ADMIN_KEY !== "")
    logger.info("BASTION_ADMIN_KEY is accepted as an admin key of the default tenant");
  if (result.created === undefined) return;
  const { secret, prefix, file } = result.created;
  const stderr = options.stderr ?? process.stderr;
  stderr.write(
    [
      "",
      "================================================================================",
      " Bastion created its first admin key. It is shown this once; only its hash is stored.",
      "",
      `   ${secret}`,
      "",
      ` A copy is in ${file} (readable by you only). Use it with:`,
      `   export BASTION_API_KEY=$(cat ${file})`,
      "================================================================================",
      "",
      "",
    ].join("\n"),
  );
  logger.warn({ prefix, file }, "created the first admin key (printed once on stderr, saved to the file)");
}
