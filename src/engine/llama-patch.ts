import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The markers scripts/patch-node-llama-cpp.mjs leaves in node-llama-cpp's LlamaContext.js, one per
 * change (llama-patch.test.ts checks that the script applies exactly these).
 */
export const patchMarkers = {
  batching: ["bastion-batching-patch (1)", "bastion-batching-patch (2)", "bastion-batching-patch (3)"],
  speculative: ["bastion-speculative-patch (4)", "bastion-speculative-patch (5)"],
} as const;

export interface BatchingPatchStatus {
  applied: boolean;
  /** node-llama-cpp's installed version. */
  version: string;
  /** What to tell the operator when the patch is missing. */
  warning?: string;
  /** The patch's markers not found in node-llama-cpp; absent when it is fully applied. */
  missing?: string[];
}

/**
 * Whether node-llama-cpp carries every change of Bastion's patch (README, "A patch to
 * node-llama-cpp"). Without it the server works, but parallel streams share batches poorly (4
 * streams decode about 1.2x one stream instead of 2x) and speculative decoding accepts only the
 * first draft of each step, so prompt lookup gains nothing. Checked once at start-up.
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
  const missing = [...patchMarkers.batching, ...patchMarkers.speculative].filter(
    (marker) => !source.includes(marker),
  );
  if (missing.length === 0) return { applied: true, version };
  const effects = [
    ...(patchMarkers.batching.some((marker) => missing.includes(marker))
      ? ["parallel streams share batches poorly (4 streams decode about 1.2x one stream instead of 2x)"]
      : []),
    ...(patchMarkers.speculative.some((marker) => missing.includes(marker))
      ? ["speculative decoding refutes every draft after the first of a step (prompt lookup gains nothing)"]
      : []),
  ];
  return {
    applied: false,
    version,
    missing,
    warning: `node-llama-cpp ${version} runs without Bastion's patch (${missing.join(", ")} missing): ${effects.join("; ")}. Run \`node scripts/patch-node-llama-cpp.mjs\` in Bastion's folder (npm install runs it).`,
  };
}
