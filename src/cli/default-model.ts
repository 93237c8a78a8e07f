import { join } from "node:path";
import type { Logger } from "pino";
import { cacheDir } from "../config/paths.ts";
import { defaultCatalogEntry } from "../models/catalog.ts";
import { isModelPullError, type ModelPullError } from "../models/pull/errors.ts";
import { createProgressBar } from "../models/pull/progress.ts";
import { pullModel } from "../models/pull/pull.ts";
import { listModels } from "../models/store.ts";
import { ensureSyntheticModel } from "../models/synth.ts";

export interface DefaultModelOptions {
  /** Never download: go straight to the synthetic demo model. */
  offline: boolean;
  log: Logger;
  /** Download source overrides (else HF_ENDPOINT / HF_TOKEN). */
  endpoint?: string | undefined;
  token?: string | undefined;
}

export interface ModelEntry {
  id: string;
  path: string;
  aliases: string[];
}

export const demoModelId = "bastion-demo-synthetic";

/** Every model in the store, as serve entries. */
export async function storeEntries(): Promise<ModelEntry[]> {
  return (await listModels()).map((model) => ({ id: model.id, path: model.files[0]!, aliases: [] }));
}

/**
 * Pull failures after which a first start serves the demo model instead, exactly as the README's
 * quick start says: no network (unreachable, or cut off mid-download) or the hub answering with an
 * error (not found, server errors). Access refused, a corrupt download or a full disk stop the
 * server, because serving gibberish would hide a problem the user must fix.
 */
export function fallsBackToDemo(error: unknown): error is ModelPullError {
  if (!isModelPullError(error)) return false;
  switch (error.reason) {
    case "offline":
    case "interrupted":
    case "http_error":
    case "not_found":
      return true;
    default:
      return false;
  }
}

/**
 * The model `bastion serve` offers when none is configured and the store is empty: the catalog's
 * default model, pulled with a progress bar; when that cannot be downloaded (offline, mirror
 * down), the synthetic demo model, with a loud warning.
 */
export async function resolveDefaultModels(options: DefaultModelOptions): Promise<ModelEntry[]> {
  if (!options.offline) {
    const entry = defaultCatalogEntry();
    options.log.info({ model: entry.name }, "the model store is empty: pulling the default model");
    const progress = createProgressBar();
    try {
      const pulled = await pullModel(entry.name, {
        onProgress: progress.onProgress,
        endpoint: options.endpoint,
        token: options.token,
      });
      progress.finish();
      return [{ id: pulled.id, path: pulled.path, aliases: ["default"] }];
    } catch (error) {
      progress.finish();
      if (!fallsBackToDemo(error)) throw error;
      options.log.warn({ reason: error.message }, `could not download ${entry.name}`);
    }
  }
  return [await syntheticDemoModel(options.log)];
}

async function syntheticDemoModel(log: Logger): Promise<ModelEntry> {
  const started = performance.now();
  const model = await ensureSyntheticModel({ preset: "tiny", dir: join(cacheDir(), "synthetic") });
  if (model.created) {
    log.info(
      { path: model.path, ms: Math.round(performance.now() - started) },
      "created the synthetic demo model",
    );
  }
  log.warn(
    "SERVING THE SYNTHETIC DEMO MODEL: random weights, its answers are gibberish. It shows the API works; " +
      "for real answers run `bastion pull <model>` when online, or serve a GGUF file with --model <file>.",
  );
  return { id: demoModelId, path: model.path, aliases: ["default"] };
}
