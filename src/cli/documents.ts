import type { Command } from "commander";
import { loadConfig } from "../config/config.ts";
import { BastionError } from "../core/errors.ts";
import { createDocuments, type IngestionEvent } from "../documents/index.ts";
import { createPlatform } from "../platform.ts";

interface ReindexOptions {
  config?: string;
  force?: boolean;
  tenant?: string;
}

/** `bastion documents reindex <vector_store_id>`: re-embeds a store with the configured embedding model. */
export function registerDocumentsCommand(program: Command): void {
  const documents = program.command("documents").description("Files and vector stores.");
  documents
    .command("reindex")
    .description(
      "Re-embed a vector store with the configured embedding model (documents.embeddingModel), file by file; run it again to resume after an interruption.",
    )
    .argument("<vector_store_id>", "the store to re-embed (vs_...)")
    .option("-c, --config <file>", "JSON config file (or BASTION_CONFIG)")
    .option("--force", "re-embed every file, even those already embedded with the current model")
    .option("--tenant <id>", "only if the store belongs to this tenant")
    .action(async (vectorStoreId: string, options: ReindexOptions) => {
      await reindex(vectorStoreId, options);
    });
}

async function reindex(vectorStoreId: string, options: ReindexOptions): Promise<void> {
  const config = loadConfig(options.config === undefined ? {} : { file: options.config });
  const platform = await createPlatform(config);
  const store = platform.store;
  const write = (line: string) => process.stderr.write(`${line}\n`);
  const onEvent = (event: IngestionEvent) => {
    if (event.type === "started") write(`${event.fileId}: ${event.chunks} chunks`);
    else if (event.type === "embedded") write(`${event.fileId}: embedded ${event.done}/${event.total}`);
    else if (event.type === "completed") write(`${event.fileId}: done${event.reused ? " (reused)" : ""}`);
    else if (event.type === "failed") write(`${event.fileId}: failed: ${event.message}`);
  };
  const documents = await createDocuments({
    store,
    registry: platform.registry,
    config,
    onEvent,
    resume: false,
  });
  const controller = new AbortController();
  process.once("SIGINT", () => {
    write("interrupted: the files done so far stay done; run the command again to resume");
    controller.abort();
  });
  try {
    const result = await documents.service.reindex(options.tenant, vectorStoreId, {
      force: options.force === true,
      signal: controller.signal,
    });
    process.stdout.write(
      `${vectorStoreId}: ${result.reembedded} file(s) re-embedded, ${result.failed} failed, ${result.files - result.reembedded - result.failed} already current\n`,
    );
    if (result.failed > 0)
      throw new BastionError("invalid_request", `${result.failed} file(s) failed; see their last_error.`);
  } finally {
    await documents.dispose();
    await platform.dispose();
  }
}
