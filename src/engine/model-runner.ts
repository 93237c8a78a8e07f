import {
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaModel,
  resolveChatWrapper,
} from "node-llama-cpp";
import type { ChatRequest, ChatStreamPart } from "../core/chat.ts";
import { createEmbedder, type Embedder, type ReserveMemory } from "./embedder.ts";
import { defaultGenerationDefaults, type GenerationDefaults } from "./generation/options.ts";
import { completionAllowance, prepareRequest } from "./generation/prompt.ts";
import { runGeneration } from "./generation/run.ts";
import { createGenerationSlots } from "./generation/slot.ts";
import { createGrammarFactory } from "./grammar.ts";
import { describeGguf, type ModelFileInfo } from "./model-info.ts";
import { createPartChannel } from "./part-channel.ts";
import { createPromptFirstStrategy } from "./prompt-first-batching.ts";
import { createSlotPool } from "./slot-pool.ts";
import { holdThreadGovernor } from "./threads.ts";

export { defaultGenerationDefaults, type GenerationDefaults };

/** How one model is served; set per model in the config. */
export interface ModelServeSpec {
  id: string;
  path: string;
  /** Parallel sequences in the one context (continuous batching). */
  parallel: number;
  /** Tokens per sequence. */
  contextSize: number;
  threads: number;
  /** On the CPU, fewer threads while other processes keep cores busy (threads.ts; default on). */
  adaptiveThreads?: boolean;
  batchSize?: number;
  maxQueue: number;
  defaults?: GenerationDefaults;
  /**
   * Speculative decoding: prompt lookup (the default; drafts only where the answer copies from its
   * context, backs off when drafts are refuted, never under a repeat penalty), or off.
   */
  speculative?: "prompt-lookup" | "off";
  /** A small model with the same vocabulary that drafts tokens instead of prompt lookup. */
  draftModelPath?: string;
}

export type ModelRunnerOptions = ModelServeSpec & {
  llama: Llama;
  /** Admits memory allocated after the load (the embedding context) to the pool's budget. */
  reserve?: ReserveMemory;
};

export interface ModelRunnerInfo extends ModelFileInfo {
  /** Tokens each sequence can hold, as created. */
  contextLength: number;
  /** The node-llama-cpp chat wrapper that renders prompts. */
  chatWrapper: string;
}

export interface ModelRunner {
  readonly id: string;
  readonly info: ModelRunnerInfo;
  generate(request: ChatRequest, options: { signal: AbortSignal }): AsyncIterable<ChatStreamPart>;
  embed: Embedder["embed"];
  /** Prompt tokens of a request as `generate` would render it (template and tools included). */
  countTokens(request: ChatRequest): number;
  dispose(): Promise<void>;
}

/**
 * One loaded model serving many requests: a single llama.cpp context with `parallel` sequences
 * that node-llama-cpp batches together (continuous batching), fronted by a bounded queue. Each
 * request is planned (generation/plan.ts) and run by the strategy its plan names.
 */
export async function loadModelRunner(options: ModelRunnerOptions): Promise<ModelRunner> {
  const { llama } = options;
  const defaults = options.defaults ?? defaultGenerationDefaults;
  const model = await llama.loadModel({ modelPath: options.path, useMmap: true });
  let context: LlamaContext;
  try {
    context = await model.createContext({
      sequences: options.parallel,
      contextSize: Math.min(options.contextSize, model.trainContextSize),
      threads: options.threads,
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      // One prompt or every sequence's next token per batch (see prompt-first-batching.ts).
      batching: { itemPrioritizationStrategy: createPromptFirstStrategy() },
    });
  } catch (error) {
    await model.dispose();
    throw error;
  }
  let draft: Awaited<ReturnType<typeof loadDraft>> | undefined;
  try {
    draft = options.draftModelPath === undefined ? undefined : await loadDraft(options, model);
  } catch (error) {
    await context.dispose();
    await model.dispose();
    throw error;
  }
  const chatWrapper: ChatWrapper = resolveChatWrapper(model);
  const grammars = createGrammarFactory(llama);
  const slots = createGenerationSlots(context, chatWrapper, {
    count: options.parallel,
    speculative: options.speculative ?? "prompt-lookup",
    draftContexts: draft?.contexts,
  });
  const pool = createSlotPool({ slots, maxQueue: options.maxQueue });
  const running = new Set<Promise<unknown>>();
  const fileInfo = describeGguf(model.fileInfo, model.size);
  const info: ModelRunnerInfo = {
    ...fileInfo,
    capabilities: {
      ...fileInfo.capabilities,
      reasoning: fileInfo.capabilities.reasoning || chatWrapper.wrapperName === "DeepSeek",
    },
    contextLength: context.contextSize,
    chatWrapper: chatWrapper.wrapperName,
  };
  const embedder = createEmbedder({
    model,
    threads: options.threads,
    reserve: options.reserve ?? (async () => () => {}),
  });

  const describeModel = { llama: model, chatWrapper, reasoning: info.capabilities.reasoning };
  async function* generate(
    request: ChatRequest,
    { signal }: { signal: AbortSignal },
  ): AsyncIterable<ChatStreamPart> {
    const { plan, history, promptTokens } = prepareRequest(request, describeModel, defaults);
    const maxTokens = completionAllowance(request, promptTokens.length, context.contextSize);
    const lease = await pool.acquire(promptTokens, signal);
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const channel = createPartChannel();
    const work = runGeneration({
      request,
      plan,
      history,
      promptTokens: promptTokens.length,
      cachedPromptTokens: Math.min(lease.slot.sharedPrefixLength(promptTokens), promptTokens.length - 1),
      maxTokens,
      slot: lease.slot,
      defaults,
      grammars,
      queueMs: lease.waitedMs,
      signal: abort.signal,
      push: channel.push,
    });
    const tracked = work.then(
      () => channel.close(),
      (error: unknown) => channel.fail(error),
    );
    running.add(tracked);
    try {
      yield* channel.drain();
    } finally {
      signal.removeEventListener("abort", onAbort);
      // The consumer stopped (finished, failed or went away): stop generating and free the slot.
      abort.abort();
      await tracked;
      running.delete(tracked);
      lease.release();
    }
  }

  const releaseGovernor = holdThreadGovernor(llama, options.adaptiveThreads);
  return {
    id: options.id,
    info,
    generate,
    embed: embedder.embed,
    countTokens: (request) => prepareRequest(request, describeModel, defaults).promptTokens.length,
    async dispose() {
      await Promise.allSettled([...running]);
      await embedder.dispose();
      await context.dispose();
      await model.dispose();
      for (const draftContext of draft?.contexts ?? []) await draftContext.dispose();
      await draft?.model.dispose();
      releaseGovernor();
    },
  };
}

/**
 * The draft model and one single-sequence context per target sequence (two generations drafting
 * through sequences of one shared draft context stalled node-llama-cpp 3.22); freed if it fails.
 */
async function loadDraft(options: ModelRunnerOptions, target: LlamaModel) {
  const model = await options.llama.loadModel({ modelPath: options.draftModelPath as string, useMmap: true });
  const contexts: LlamaContext[] = [];
  try {
    for (let index = 0; index < options.parallel; index++) {
      contexts.push(
        await model.createContext({
          sequences: 1,
          contextSize: Math.min(options.contextSize, model.trainContextSize, target.trainContextSize),
          threads: options.threads,
        }),
      );
    }
    return { model, contexts };
  } catch (error) {
    for (const context of contexts) await context.dispose();
    await model.dispose();
    throw error;
  }
}
