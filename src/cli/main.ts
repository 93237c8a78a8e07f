import { Command, CommanderError, InvalidArgumentError } from "commander";
import { BastionError } from "../core/errors.ts";
import { registerAuditCommand } from "./audit.ts";
import { registerBackendsCommand } from "./backends.ts";
import { registerCatalogCommand } from "./catalog.ts";
import { registerChatCommand } from "./chat.ts";
import { registerDocumentsCommand } from "./documents.ts";
import { registerKeysCommand } from "./keys.ts";
import { registerModelsCommand } from "./models.ts";
import { registerPolicyCommand } from "./policy.ts";
import { registerPullCommand } from "./pull.ts";
import { registerRmCommand } from "./rm.ts";
import { registerServeCommand } from "./serve.ts";
import { registerSynthCommand } from "./synth.ts";
import { registerTenantsCommand } from "./tenants.ts";
import { registerUsageCommand } from "./usage.ts";
import { registerUsersCommand } from "./users.ts";

const program = new Command()
  .name("bastion")
  .description("Sovereign, frugal, OpenAI-compatible inference on open-weight models.")
  .showHelpAfterError()
  .exitOverride();

registerServeCommand(program);
registerChatCommand(program);
registerDocumentsCommand(program);
registerModelsCommand(program);
registerSynthCommand(program);
registerPullCommand(program);
registerRmCommand(program);
registerCatalogCommand(program);
registerBackendsCommand(program);
registerTenantsCommand(program);
registerUsersCommand(program);
registerKeysCommand(program);
registerPolicyCommand(program);
registerUsageCommand(program);
registerAuditCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Commander prints the errors it raises while parsing, then throws a plain CommanderError; an
  // InvalidArgumentError that reaches here was thrown by an action and has not been printed yet.
  if (error instanceof CommanderError && !(error instanceof InvalidArgumentError))
    process.exit(error.exitCode);
  // Expected failures carry a message that says what to do; a stack trace only helps when debugging.
  const debug = process.env.BASTION_DEBUG === "1";
  const message =
    error instanceof Error && (debug === false || error instanceof BastionError)
      ? error.message
      : ((error as Error).stack ?? String(error));
  process.stderr.write(`bastion: ${message}\n`);
  process.exit(1);
}
