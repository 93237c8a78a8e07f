import { execFile } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { cacheDir as defaultCacheDir } from "../config/paths.ts";
import { SyntheticModelError } from "./errors.ts";

const execFileAsync = promisify(execFile);

/** Files of the llama.cpp source that synthetic models are built from. */
export const llamaCppSourceFiles = {
  qwen2Vocab: "models/ggml-vocab-qwen2.gguf",
  deepSeekR1DistillQwenTemplate: "models/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
  qwen25InstructTemplate: "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja",
} as const;

export interface VocabSourceOptions {
  /** Where extracted files are kept; defaults to `cacheDir()` (`$BASTION_DATA_DIR/cache`). */
  cacheDir?: string;
}

/** The git bundle of llama.cpp's source that node-llama-cpp's npm package ships. */
export function llamaCppBundle(): { bundlePath: string; tag: string } {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve("node-llama-cpp"));
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "llama"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new SyntheticModelError("cannot find node-llama-cpp's package folder");
    dir = parent;
  }
  const bundlePath = join(dir, "llama", "gitRelease.bundle");
  if (!existsSync(bundlePath)) {
    throw new SyntheticModelError(`node-llama-cpp ships no llama.cpp source bundle at ${bundlePath}`);
  }
  let tag = "unknown";
  try {
    const info = JSON.parse(readFileSync(join(dir, "llama", "llama.cpp.info.json"), "utf8")) as {
      tag?: unknown;
    };
    if (typeof info.tag === "string") tag = info.tag;
  } catch {
    // The tag only names the cache folder; the bundle size below still tells versions apart.
  }
  return { bundlePath, tag: `${tag}-${statSync(bundlePath).size}`.replace(/[^\w.-]/g, "_") };
}

function uniqueSuffix(): string {
  return `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

async function git(args: string[]): Promise<Buffer> {
  try {
    const { stdout } = await execFileAsync("git", args, { encoding: "buffer", maxBuffer: 512 << 20 });
    return stdout;
  } catch (error) {
    throw new SyntheticModelError(`git ${args.join(" ")} failed (is git installed?)`, { cause: error });
  }
}

/** A bare clone of the bundle, made once per bundle version; concurrent callers race to a rename. */
async function ensureBareClone(root: string, bundlePath: string): Promise<string> {
  const repo = join(root, "llama-src.git");
  if (existsSync(join(repo, "HEAD"))) return repo;
  await mkdir(root, { recursive: true });
  const tmp = join(root, `llama-src.git.${uniqueSuffix()}.tmp`);
  await git(["clone", "--quiet", "--bare", bundlePath, tmp]);
  try {
    await rename(tmp, repo);
  } catch (error) {
    // Another process won the race; its clone is as good as ours.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(repo, "HEAD"))) throw error;
  }
  return repo;
}

/**
 * Extracts one file of llama.cpp's source (e.g. `models/ggml-vocab-qwen2.gguf`) from the bundle
 * node-llama-cpp ships, into the cache, and returns its path. Later calls reuse the cached copy.
 */
export async function extractLlamaCppFile(
  relativePath: string,
  options: VocabSourceOptions = {},
): Promise<string> {
  const { bundlePath, tag } = llamaCppBundle();
  const root = join(options.cacheDir ?? defaultCacheDir(), "llama-src", tag);
  const target = join(root, "files", relativePath);
  if (existsSync(target)) return target;
  const repo = await ensureBareClone(root, bundlePath);
  const content = await git(["--git-dir", repo, "show", `HEAD:${relativePath}`]);
  await mkdir(dirname(target), { recursive: true });
  const tmp = `${target}.${uniqueSuffix()}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, target);
  return target;
}
