import type { Command } from "commander";
import { hubEndpoint, loadConfig } from "../config/config.ts";
import { createProgressBar } from "../models/pull/progress.ts";
import { pullModel } from "../models/pull/pull.ts";

interface PullCommandOptions {
  quiet?: boolean;
  token?: string;
  endpoint?: string;
  name?: string;
  force?: boolean;
}

/** `bastion pull <ref>`: downloads a model into the store, resumable and verified, with a progress bar. */
export function registerPullCommand(program: Command): void {
  program
    .command("pull")
    .description(
      "Download a model into the store. <ref>: a catalog name (see `bastion catalog`), hf:owner/repo/file.gguf, " +
        "hf:owner/repo:Q4_K_M, or an https:// URL.",
    )
    .argument("<ref>", "what to pull")
    .option("-q, --quiet", "no progress output (for scripts)")
    .option("--token <token>", "Hugging Face access token for gated repositories (default: $HF_TOKEN)")
    .option(
      "--endpoint <url>",
      "Hugging Face endpoint or mirror (default: $HF_ENDPOINT, else https://huggingface.co)",
    )
    .option("--name <id>", "store the model under this id")
    .option("--force", "download again even if the model is in the store")
    .action(async (ref: string, options: PullCommandOptions) => {
      const progress = createProgressBar({ quiet: options.quiet === true });
      const controller = new AbortController();
      const onSigint = () =>
        controller.abort(new Error("interrupted by the user; run the same pull again to resume"));
      process.once("SIGINT", onSigint);
      try {
        const result = await pullModel(ref, {
          endpoint: hubEndpoint(loadConfig(), options.endpoint),
          token: options.token,
          onProgress: progress.onProgress,
          signal: controller.signal,
          ...(options.name === undefined ? {} : { id: options.name }),
          ...(options.force === true ? { force: true } : {}),
        });
        progress.finish();
        if (!options.quiet) {
          const unverified = result.manifest.files.some((f) => !f.verified);
          process.stderr.write(
            `${result.downloaded ? "Pulled" : "Already in the store:"} ${result.id} -> ${result.path}\n` +
              (unverified && result.downloaded
                ? "Note: the source published no sha256, so the file could not be verified.\n"
                : ""),
          );
        }
        process.stdout.write(`${result.id}\n`);
      } finally {
        progress.finish();
        process.removeListener("SIGINT", onSigint);
      }
    });
}
