import type { BatchItem, CustomBatchingPrioritizationStrategy, PrioritizedBatchItem } from "node-llama-cpp";

export interface PromptFirstOptions {
  /**
   * How long a generating sequence's next token may wait while prompts are evaluated; after that
   * a batch of the waiting generation steps goes first. Bounds the pause a streaming answer sees
   * when other requests arrive.
   */
  maxGenerationWaitMs?: number;
  now?: () => number;
}

/** Default pause a stream may see while other requests' prompts are evaluated, ms. */
export const defaultMaxGenerationWaitMs = 1000;

/**
 * A prompt (or a chunk of one): more than one token, and the first asks for no logits. A generation
 * step is one token; a speculative verification is several tokens that all ask for logits.
 */
function isPrompt(item: BatchItem): boolean {
  return item.tokens.length > 1 && item.logits[0] !== true;
}

/**
 * node-llama-cpp's batch strategy for the generation context: a batch holds either one prompt (the
 * oldest waiting, as much of it as fits) or every generating sequence's next step, never both.
 *
 * Why: node-llama-cpp's contexts keep a KV cache per sequence (kv_unified off), so llama.cpp splits
 * a batch into micro-batches that take the same number of tokens from each of a run of consecutive
 * sequences. A batch that mixes prompts of different lengths, or a prompt with another sequence's
 * one-token step, is cut into several micro-batches, each a full pass over the weights; and a batch
 * of all waiting prompts together makes every one of them wait for the longest. One prompt per
 * batch costs the same prompt work in as many passes as there are prompts, and the first request
 * gets its first token after its own prompt instead of after all of them (4 concurrent requests of
 * equal length: mean time to first token 2.5 prompt-times instead of 4, same total work). The
 * generation steps of all sequences still share one batch per step.
 */
export function createPromptFirstStrategy(
  options: PromptFirstOptions = {},
): CustomBatchingPrioritizationStrategy {
  const maxWaitMs = options.maxGenerationWaitMs ?? defaultMaxGenerationWaitMs;
  const now = options.now ?? (() => performance.now());
  // When each generation step was first seen waiting (node-llama-cpp rebuilds the items per batch,
  // but an item's token array is its queued decode's own, so it identifies the step).
  const waitingSince = new WeakMap<readonly number[], number>();

  return ({ items, size }) => {
    const prompts: BatchItem[] = [];
    const steps: BatchItem[] = [];
    for (const item of items) (isPrompt(item) ? prompts : steps).push(item);
    const time = now();
    let oldestStep = time;
    for (const step of steps) {
      const since = waitingSince.get(step.tokens);
      if (since === undefined) waitingSince.set(step.tokens, time);
      else oldestStep = Math.min(oldestStep, since);
    }
    const prompt = prompts[0];
    if (prompt !== undefined && (steps.length === 0 || time - oldestStep < maxWaitMs))
      return [{ item: prompt, processAmount: Math.min(prompt.tokens.length, size) }];
    const batch: PrioritizedBatchItem[] = [];
    let left = size;
    for (const step of steps) {
      if (left <= 0) break;
      const processAmount = Math.min(step.tokens.length, left);
      batch.push({ item: step, processAmount });
      left -= processAmount;
    }
    return batch;
  };
}
