import { getLlama, type Llama, LlamaLogLevel } from "node-llama-cpp";

export interface LlamaRuntimeOptions {
  /** `"auto"` uses a GPU when one is usable; `false` forces the CPU. */
  gpu?: "auto" | false;
  /** Upper bound on llama.cpp threads across all contexts. */
  maxThreads?: number;
  logger?: (level: string, message: string) => void;
}

let shared: Promise<Llama> | undefined;

/**
 * The process-wide llama.cpp runtime. Never builds or downloads binaries: the prebuilt ones that
 * node-llama-cpp ships in its npm packages are the only ones used.
 */
export function getLlamaRuntime(options: LlamaRuntimeOptions = {}): Promise<Llama> {
  shared ??= getLlama({
    gpu: options.gpu ?? "auto",
    build: "never",
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
    ...(options.maxThreads === undefined ? {} : { maxThreads: options.maxThreads }),
    ...(options.logger === undefined
      ? {}
      : { logger: (level: LlamaLogLevel, message: string) => options.logger?.(level, message) }),
  }).catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}
