import type { Command } from "commander";
import { removeModel } from "../models/store.ts";

/** `bastion rm <model>`: deletes a model from the store. */
export function registerRmCommand(program: Command): void {
  program
    .command("rm")
    .description("Remove a model from the store (see `bastion models` for ids).")
    .argument("<model...>", "model id(s)")
    .action(async (ids: string[]) => {
      for (const id of ids) {
        await removeModel(id);
        process.stderr.write(`Removed ${id}\n`);
      }
    });
}
