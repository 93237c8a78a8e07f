import type { LlamaEmbeddingContext, LlamaModel } from "node-llama-cpp";
import { BastionError } from "../core/errors.ts";
import { estimateEmbeddingContextBytes } from "./ram-estimate.ts";

/** Holds memory in the pool's budget; the returned function gives it back. */
export type ReserveMemory = (bytes: number) => Promise<() => void>;

export interface EmbedderOptions {
  model: LlamaModel;
  threads: number;
  /** Counts the embedding context in the memory budget before it is created. */
  reserve: ReserveMemory;
}

export interface Embedder {
  embed(
    inputs: string[],
    options: { signal: AbortSignal },
  ): Promise<{ vectors: Float32Array[]; promptTokens: number }>;
  dispose(): Promise<void>;
}

/**
 * A model's embedding context, created on first use after its memory is admitted to the budget.
 * A context that fails to be created is not kept (the next request tries again) and gives its
 * reservation back; requests take turns, since the context embeds one input at a time.
 */
export function createEmbedder(options: EmbedderOptions): Embedder {
  const { model } = options;
  const limit = Math.min(2048, model.trainContextSize);
  let context: Promise<{ embedder: LlamaEmbeddingContext; release: () => void }> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  function open() {
    context ??= (async () => {
      const release = await options.reserve(estimateEmbeddingContextBytes(model.fileInsights, limit));
      try {
        const embedder = await model.createEmbeddingContext({ contextSize: limit, threads: options.threads });
        return { embedder, release };
      } catch (error) {
        release();
        throw error;
      }
    })();
    const opened = context;
    opened.catch(() => {
      if (context === opened) context = undefined;
    });
    return opened;
  }

  return {
    async embed(inputs, { signal }) {
      const { embedder } = await open();
      const run = queue.then(async () => {
        const vectors: Float32Array[] = [];
        let promptTokens = 0;
        for (const input of inputs) {
          if (signal.aborted) throw new BastionError("cancelled", "The request was cancelled.");
          const tokens = model.tokenize(input);
          if (tokens.length > limit) {
            throw new BastionError(
              "context_length_exceeded",
              `An input takes ${tokens.length} tokens; this model embeds at most ${limit}.`,
              { param: "input" },
            );
          }
          promptTokens += tokens.length;
          const embedding = await embedder.getEmbeddingFor(tokens);
          vectors.push(Float32Array.from(embedding.vector));
        }
        return { vectors, promptTokens };
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async dispose() {
      const opened = await context?.catch(() => undefined);
      context = undefined;
      if (opened === undefined) return;
      await queue;
      await opened.embedder.dispose();
      opened.release();
    },
  };
}
