import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * The folder that holds Bastion's model store, database and caches.
 * Read from `BASTION_DATA_DIR`, else `$XDG_DATA_HOME/bastion`, else `~/.local/share/bastion`.
 */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.BASTION_DATA_DIR;
  if (explicit !== undefined && explicit !== "") return resolve(explicit);
  const xdg = env.XDG_DATA_HOME;
  if (xdg !== undefined && xdg !== "") return join(resolve(xdg), "bastion");
  return join(homedir(), ".local", "share", "bastion");
}

/** Where downloaded and generated models live. */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataDir(env), "models");
}

/** Derived data that can be rebuilt at any time (extracted vocabularies, synthetic models). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataDir(env), "cache");
}
