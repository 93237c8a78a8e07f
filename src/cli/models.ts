import type { Command } from "commander";
import { formatBytes } from "../models/pull/progress.ts";
import { listModels, modelInfo } from "../models/store.ts";
import { formatTable } from "./table.ts";

interface ModelsOptions {
  url: string;
  json?: boolean;
}

interface ServedModel {
  id: string;
  loaded?: boolean;
}

async function servedModels(url: string): Promise<Map<string, ServedModel> | undefined> {
  try {
    const response = await fetch(`${url.replace(/\/$/, "")}/models`, { signal: AbortSignal.timeout(1500) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { data?: ServedModel[] };
    return new Map((body.data ?? []).map((model) => [model.id, model]));
  } catch {
    return undefined;
  }
}

/** `bastion models`: the store's models, from their GGUF headers, and whether a running server has them loaded. */
export function registerModelsCommand(program: Command): void {
  program
    .command("models")
    .description(
      "List the models in the store (BASTION_DATA_DIR) and whether a running server has them loaded.",
    )
    .option(
      "-u, --url <url>",
      "running server to ask which models are loaded",
      process.env.BASTION_URL ?? "http://127.0.0.1:8080/v1",
    )
    .option("--json", "print JSON")
    .action(async (options: ModelsOptions) => {
      const [stored, served] = await Promise.all([listModels(), servedModels(options.url)]);
      const rows = [];
      for (const model of stored) {
        const info = await modelInfo(model.id);
        const loaded = served === undefined ? "?" : served.get(model.id)?.loaded === true ? "yes" : "no";
        rows.push({
          id: info.id,
          architecture: info.architecture ?? "?",
          parameters: info.parameterLabel,
          quantisation: info.quantisation ?? "?",
          context: info.contextLength ?? 0,
          template: info.chatTemplateFamily,
          size: info.sizeOnDisk,
          loaded,
          licence: info.manifest.licence?.id ?? "?",
        });
      }
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        process.stdout.write(
          "The store is empty. `bastion catalog` lists models to pull; `bastion pull <name>` gets one.\n",
        );
        return;
      }
      const table = [
        ["ID", "ARCH", "PARAMS", "QUANT", "CONTEXT", "TEMPLATE", "SIZE", "LOADED", "LICENCE"],
        ...rows.map((row) => [
          row.id,
          row.architecture,
          row.parameters,
          row.quantisation,
          String(row.context),
          row.template,
          formatBytes(row.size),
          row.loaded,
          row.licence,
        ]),
      ];
      process.stdout.write(`${formatTable(table)}\n`);
      if (served === undefined)
        process.stdout.write(`(no server answered at ${options.url}; LOADED unknown)\n`);
    });
}
