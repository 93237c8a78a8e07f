import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The marker scripts/patch-node-llama-cpp.mjs leaves in node-llama-cpp's batch dispatcher. */
const marker = "bastion-batching-patch";

export interface BatchingPatchStatus {
  applied: boolean;
  /** node-llama-cpp's installed version. */
  version: string;
  /** What to tell the operator when the patch is missing. */
  warning?: string;
}

/**
 * Whether node-llama-cpp's batch dispatcher carries Bastion's patch (README, "A patch to
 * node-llama-cpp"). Without it the server works, but parallel streams share batches poorly: 4
 * streams decode about 1.2x one stream instead of 2x. Checked once at start-up.
 * @param packageRoot node-llama-cpp's folder; default: the one this process resolves.
 */
export function checkBatchingPatch(packageRoot?: string): BatchingPatchStatus {
  let root: string;
  try {
    root = packageRoot ?? join(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
  } catch {
    return { applied: false, version: "unknown", warning: "node-llama-cpp cannot be found." };
  }
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  const version =
    (JSON.parse(read(join(root, "package.json")) || "{}") as { version?: string }).version ?? "unknown";
  const source = read(join(root, "dist", "evaluator", "LlamaContext", "LlamaContext.js"));
  if (source.includes(marker)) return { applied: true, version };
  return {
    applied: false,
    version,
    warning: `node-llama-cpp ${version} runs without Bastion's batching patch: parallel streams share batches poorly (4 streams decode about 1.2x one stream instead of 2x). Run \`node scripts/patch-node-llama-cpp.mjs\` in Bastion's folder (npm install runs it).`,
  };
}
