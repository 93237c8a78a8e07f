import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { isProcessAlive } from "../../core/process-alive.ts";
import { ModelPullError } from "./errors.ts";

export interface PullLock {
  release(): Promise<void>;
}

/**
 * Takes `<modelsDir>/.<id>.lock`, so that two pulls of one model (two terminals, or `serve` and
 * `pull` at once) never write the same files. A lock left by a process that is gone is taken over.
 * @throws ModelPullError `busy`, naming the process that holds the lock.
 */
export async function acquirePullLock(modelsDir: string, id: string): Promise<PullLock> {
  const path = join(modelsDir, `.${id}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
      if (Number.isInteger(holder) && holder > 0 && isProcessAlive(holder)) {
        throw new ModelPullError(
          "busy",
          `Another pull of "${id}" is running (process ${holder}). Wait for it to finish; if that process is not a Bastion pull, delete ${path}.`,
          { isRetryable: true },
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new ModelPullError("busy", `Could not take the pull lock ${path}; delete it and try again.`);
}
