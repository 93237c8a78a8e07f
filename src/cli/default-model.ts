import { join } from "node:path";
import type { Logger } from "pino";
import { cacheDir } from "../config/paths.ts";
import { ensureSyntheticModel } from "../models/synth.ts";

export interface DefaultModelOptions {
  offline: boolean;
  log: Logger;
}

export const demoModelId = "bastion-demo-synthetic";

/**
 * The model `bastion serve` uses when none is configured: the synthetic demo model, created once
 * and cached. Its weights are random, which the server says loudly.
 */
export async function resolveDefaultModel(
  options: DefaultModelOptions,
): Promise<{ id: string; path: string; aliases: string[] }> {
  const started = performance.now();
  const model = await ensureSyntheticModel({ preset: "tiny", dir: join(cacheDir(), "synthetic") });
  if (model.created) {
    options.log.info({ path: model.path, ms: Math.round(performance.now() - started) }, "created the synthetic demo model");
  }
  options.log.warn(
    "No model configured: serving the SYNTHETIC demo model (random weights, gibberish answers). Serve a real GGUF with --model <file>.",
  );
  return { id: demoModelId, path: model.path, aliases: ["default"] };
}
