import type { Command } from "commander";
import { catalog, estimateRamBytes } from "../models/catalog.ts";
import { formatBytes } from "../models/pull/progress.ts";
import { formatTable } from "./table.ts";

/** `bastion catalog`: the curated models, with licence, publisher and what they need. */
export function registerCatalogCommand(program: Command): void {
  program
    .command("catalog")
    .description("List the curated models that `bastion pull <name>` knows.")
    .option("--json", "print the catalog as JSON")
    .action((options: { json?: boolean }) => {
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify(
            catalog.map((e) => ({ ...e, ramBytes: estimateRamBytes(e) })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      const rows = [
        ["NAME", "PARAMS", "QUANT", "SIZE", "RAM", "CONTEXT", "LICENCE", "PUBLISHER", "CAPABILITIES"],
      ];
      for (const entry of catalog) {
        const caps = [
          entry.capabilities.reasoning ? "reasoning" : "",
          entry.capabilities.tools ? "tools" : "",
          entry.capabilities.embeddings ? "embeddings" : "",
          entry.capabilities.languages.length > 3
            ? `${entry.capabilities.languages.length} languages`
            : entry.capabilities.languages.join(","),
        ].filter((c) => c !== "");
        rows.push([
          `${entry.name}${entry.default ? " (default)" : ""}`,
          entry.parameters,
          entry.quantisation,
          formatBytes(entry.fileSizeBytes),
          formatBytes(estimateRamBytes(entry)),
          String(entry.contextLength),
          entry.licence.id,
          `${entry.publisher.name.split(" (")[0]} (${entry.publisher.country})`,
          caps.join(" "),
        ]);
      }
      process.stdout.write(`${formatTable(rows)}\n`);
    });
}
