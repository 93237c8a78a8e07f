import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "../config/paths.ts";

/**
 * The API key a client command uses when none is given: `BASTION_API_KEY`, else the admin key the
 * first server start saved in `<dataDir>/admin-key` (so the README's quick start works as is).
 */
export function defaultApiKey(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BASTION_API_KEY !== undefined && env.BASTION_API_KEY !== "") return env.BASTION_API_KEY;
  try {
    const saved = readFileSync(join(dataDir(env), "admin-key"), "utf8").trim();
    return saved === "" ? undefined : saved;
  } catch {
    return undefined;
  }
}
