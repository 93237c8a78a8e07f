import type { LlamaModel, LlamaRankingContext } from "node-llama-cpp";
import { BastionError } from "../core/errors.ts";
import { getLlamaRuntime } from "./llama.ts";
import { defaultThreadCount, measureBusyCores } from "./threads.ts";

/** A cross-encoder (e.g. bge-reranker-v2-m3) scoring how well each document answers a query. */
export interface Ranker {
  readonly path: string;
  /** One relevance score in 0..1 per document, in the documents' order. */
  rank(query: string, documents: string[]): Promise<number[]>;
  dispose(): Promise<void>;
}

/**
 * Loads a reranking model through node-llama-cpp's `createRankingContext`. Kept apart from the
 * chat model pool: a reranker is small, used between retrieval and generation, and never chats.
 */
export async function loadRanker(options: {
  path: string;
  /**
   * llama.cpp threads; by default the cores other processes leave free, as for chat models.
   * node-llama-cpp's own default (every core) spin-waits on a loaded machine: measured 700x slower
   * than 1 thread on the 2-core CI box with other work running (45 s against 63 ms for 10 passages).
   */
  threads?: number;
  contextSize?: number;
}): Promise<Ranker> {
  const llama = await getLlamaRuntime();
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: options.path, useMmap: true });
  } catch (error) {
    throw new BastionError(
      "not_ready",
      `documents.rerankerModel: ${options.path} cannot be loaded: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let context: LlamaRankingContext;
  try {
    context = await model.createRankingContext({
      contextSize: Math.min(options.contextSize ?? 2048, model.trainContextSize),
      threads: options.threads ?? defaultThreadCount(undefined, await measureBusyCores()),
    });
  } catch (error) {
    await model.dispose();
    throw new BastionError(
      "not_ready",
      `documents.rerankerModel: ${options.path} is not a reranking model (${(error as Error).message}); use a cross-encoder such as bge-reranker-v2-m3.`,
      { cause: error },
    );
  }
  // The context handles one evaluation at a time: queue callers.
  let queue: Promise<unknown> = Promise.resolve();
  const limit = Math.min(options.contextSize ?? 2048, model.trainContextSize);
  return {
    path: options.path,
    rank(query, documents) {
      const run = queue.then(() => {
        // Over-long passages are clipped in tokens so query + passage fit the ranking context.
        const budget = Math.max(16, limit - model.tokenize(query).length - 16);
        const clipped = documents.map((document) => model.tokenize(document).slice(0, budget));
        return context.rankAll(query, clipped);
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
