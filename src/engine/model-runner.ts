import {
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatWrapper,
  type Llama,
  LlamaChat,
  type LlamaChatResponseChunk,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  resolveChatWrapper,
  type Token,
  TokenMeter,
} from "node-llama-cpp";
import type { ChatRequest, ChatStreamPart, FinishReason } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { createGrammarFactory, type GrammarFactory } from "./grammar.ts";
import { toLlamaHistory } from "./history.ts";
import { describeGguf, type ModelFileInfo } from "./model-info.ts";
import { createPartChannel } from "./part-channel.ts";
import { createSlotPool, type SlotPool } from "./slot-pool.ts";
import { type GenerateOptions, thinkThenConstrain } from "./think-then-constrain.ts";
import { newToolCallId, parseForcedCall, planToolUse } from "./tool-calls.ts";

/** How one model is served; set per model in the config. */
export interface ModelServeSpec {
  id: string;
  path: string;
  /** Parallel sequences in the one context (continuous batching). */
  parallel: number;
  /** Tokens per sequence. */
  contextSize: number;
  threads: number;
  batchSize?: number;
  maxQueue: number;
  defaults?: GenerationDefaults;
}

export type ModelRunnerOptions = ModelServeSpec & { llama: Llama };

export interface GenerationDefaults {
  temperature: number;
  topP?: number;
  /** Thought budget per `reasoning_effort`; `Infinity` means unbounded. */
  reasoningBudgets: { low: number; medium: number; high: number };
}

export const defaultGenerationDefaults: GenerationDefaults = {
  temperature: 0.7,
  reasoningBudgets: { low: 512, medium: 2048, high: Number.POSITIVE_INFINITY },
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
  embed(
    inputs: string[],
    options: { signal: AbortSignal },
  ): Promise<{ vectors: Float32Array[]; promptTokens: number }>;
  /** Prompt tokens of a request as `generate` would render it (template and tools included). */
  countTokens(request: ChatRequest): number;
  dispose(): Promise<void>;
}

interface Slot {
  sequence: LlamaContextSequence;
  chat: LlamaChat;
  sharedPrefixLength(tokens: readonly number[]): number;
}

function finishReasonOf(stopReason: string): FinishReason {
  switch (stopReason) {
    case "maxTokens":
      return "length";
    case "functionCalls":
      return "tool_calls";
    case "abort":
      return "cancelled";
    default:
      return "stop";
  }
}

/** The client stop sequence that ended a generation, as the finish part carries it. */
function stopSequenceOf(metadata: { stopReason: string; customStopTrigger?: (string | Token)[] }): {
  stopSequence?: string;
} {
  if (metadata.stopReason !== "customStopTrigger" || metadata.customStopTrigger === undefined) return {};
  // Bastion passes stop sequences as plain strings, so the trigger holds no token ids.
  return { stopSequence: metadata.customStopTrigger.filter((part) => typeof part === "string").join("") };
}

/**
 * One loaded model serving many requests: a single llama.cpp context with `parallel` sequences
 * that node-llama-cpp batches together (continuous batching), fronted by a bounded queue.
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
    });
  } catch (error) {
    await model.dispose();
    throw error;
  }
  const chatWrapper: ChatWrapper = resolveChatWrapper(model);
  const grammars: GrammarFactory = createGrammarFactory(llama);
  const slots: Slot[] = [];
  for (let index = 0; index < options.parallel; index++) {
    const sequence = context.getSequence();
    slots.push({
      sequence,
      chat: new LlamaChat({ contextSequence: sequence, chatWrapper }),
      sharedPrefixLength: (tokens) => sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex,
    });
  }
  const pool: SlotPool<Slot> = createSlotPool({ slots, maxQueue: options.maxQueue });
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
  let embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  let embeddingQueue: Promise<unknown> = Promise.resolve();

  function renderPrompt(history: ChatHistoryItem[], functions: ChatModelFunctions | undefined): Token[] {
    const state = chatWrapper.generateContextState({
      chatHistory: history,
      ...(functions === undefined ? {} : { availableFunctions: functions, documentFunctionParams: true }),
    });
    return state.contextText.tokenize(model.tokenizer);
  }

  function thoughtBudget(request: ChatRequest): number | undefined {
    if (request.maxReasoningTokens !== undefined) return request.maxReasoningTokens;
    if (request.reasoningEffort !== undefined) return defaults.reasoningBudgets[request.reasoningEffort];
    return undefined;
  }

  async function* generate(
    request: ChatRequest,
    { signal }: { signal: AbortSignal },
  ): AsyncIterable<ChatStreamPart> {
    const { functions, forcedTools } = planToolUse(request);
    let grammar: LlamaGrammar | undefined;
    if (forcedTools.length > 0) grammar = await grammars.forToolCall(forcedTools);
    else if (request.responseFormat !== undefined)
      grammar = await grammars.forResponseFormat(request.responseFormat);

    const history = toLlamaHistory(request.messages);
    const promptTokens = renderPrompt(history, functions);
    const available = context.contextSize - promptTokens.length;
    if (available < 1 || (request.maxTokens !== undefined && request.maxTokens > available)) {
      const asked = request.maxTokens ?? 1;
      throw new BastionError(
        "context_length_exceeded",
        `This model's context is ${context.contextSize} tokens per request, but the messages take ${promptTokens.length} tokens and ${asked} more were requested for the completion (${promptTokens.length + asked} in all). Shorten the messages or lower max_tokens.`,
        { param: "messages" },
      );
    }

    const lease = await pool.acquire(promptTokens, signal);
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const channel = createPartChannel();
    const startedAt = performance.now();
    let firstTokenAt: number | undefined;
    let reasoningTokens = 0;
    let completionTokens = 0;
    const cachedPromptTokens = Math.min(lease.slot.sharedPrefixLength(promptTokens), promptTokens.length - 1);
    const meterBefore = lease.slot.sequence.tokenMeter.getState();
    const bufferForcedCall = forcedTools.length > 0;
    let forcedText = "";
    let toolIndex = 0;

    const onResponseChunk = (chunk: LlamaChatResponseChunk) => {
      if (chunk.tokens.length > 0) {
        firstTokenAt ??= performance.now();
        completionTokens += chunk.tokens.length;
      }
      if (chunk.type === "segment") {
        if (chunk.segmentType === "thought") {
          reasoningTokens += chunk.tokens.length;
          if (chunk.text !== "") channel.push({ type: "reasoning-delta", text: chunk.text });
        }
        return;
      }
      if (chunk.text === "") return;
      if (bufferForcedCall) forcedText += chunk.text;
      else channel.push({ type: "text-delta", text: chunk.text });
    };

    const budget = thoughtBudget(request);
    const sampling = request.sampling;
    const penalties = sampling.presencePenalty !== undefined || sampling.frequencyPenalty !== undefined;
    const work = (async () => {
      const common: GenerateOptions = {
        signal: abort.signal,
        stopOnAbortSignal: true,
        onResponseChunk,
        maxTokens: Math.min(request.maxTokens ?? available, available),
        temperature: sampling.temperature ?? defaults.temperature,
        ...(sampling.topP !== undefined
          ? { topP: sampling.topP }
          : defaults.topP !== undefined
            ? { topP: defaults.topP }
            : {}),
        ...(sampling.topK === undefined ? {} : { topK: sampling.topK }),
        ...(sampling.minP === undefined ? {} : { minP: sampling.minP }),
        ...(sampling.seed === undefined ? {} : { seed: sampling.seed }),
        repeatPenalty: penalties
          ? {
              penalty: sampling.repeatPenalty ?? 1,
              presencePenalty: sampling.presencePenalty ?? 0,
              frequencyPenalty: sampling.frequencyPenalty ?? 0,
            }
          : sampling.repeatPenalty !== undefined
            ? { penalty: sampling.repeatPenalty }
            : (false as const),
        ...(request.stop === undefined || request.stop.length === 0
          ? {}
          : { customStopTriggers: request.stop }),
        ...(budget === undefined ? {} : { budgets: { thoughtTokens: budget } }),
        contextShift: { strategy: "eraseFirstResponseAndKeepFirstSystem" },
      };
      let result: Awaited<ReturnType<LlamaChat["generateResponse"]>>;
      if (functions !== undefined) {
        result = await lease.slot.chat.generateResponse(history, {
          ...common,
          functions,
          documentFunctionParams: true,
          onFunctionCall: (call) => {
            const args = JSON.stringify(call.params ?? {});
            channel.push({
              type: "tool-call",
              index: toolIndex++,
              call: { id: newToolCallId(), name: call.functionName, arguments: args },
            });
          },
        });
      } else if (grammar !== undefined && info.capabilities.reasoning && budget !== 0) {
        result = await thinkThenConstrain(lease.slot.chat, history, common, grammar);
      } else {
        result = await lease.slot.chat.generateResponse(history, {
          ...common,
          ...(grammar === undefined ? {} : { grammar }),
        });
      }
      let finishReason = finishReasonOf(result.metadata.stopReason);
      if (bufferForcedCall && finishReason !== "cancelled") {
        const call = parseForcedCall(forcedText);
        if (call === undefined) {
          // The grammar forbids this unless the length limit cut the call short.
          if (forcedText !== "") channel.push({ type: "text-delta", text: forcedText });
        } else {
          channel.push({ type: "tool-call", index: 0, call: { id: newToolCallId(), ...call } });
          finishReason = "tool_calls";
        }
      }
      const endedAt = performance.now();
      // The meter counts every sampled token, including the thought's markers that no chunk carries;
      // the end-of-generation token is sampled but not part of the completion.
      const sampled = TokenMeter.diff(lease.slot.sequence.tokenMeter, meterBefore).usedOutputTokens;
      const endedOnEog = result.metadata.stopReason === "eogToken";
      completionTokens = Math.max(completionTokens, sampled - (endedOnEog ? 1 : 0));
      channel.push({
        type: "finish",
        finishReason,
        usage: { promptTokens: promptTokens.length, completionTokens, reasoningTokens, cachedPromptTokens },
        ...stopSequenceOf(result.metadata),
        timings: {
          queueMs: lease.waitedMs,
          promptMs: (firstTokenAt ?? endedAt) - startedAt,
          generationMs: endedAt - (firstTokenAt ?? endedAt),
        },
      });
    })();
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

  async function embed(inputs: string[], { signal }: { signal: AbortSignal }) {
    embeddingContext ??= model.createEmbeddingContext({
      contextSize: Math.min(2048, model.trainContextSize),
      threads: options.threads,
    });
    const embedder = await embeddingContext;
    const embedLimit = Math.min(2048, model.trainContextSize);
    const run = embeddingQueue.then(async () => {
      const vectors: Float32Array[] = [];
      let promptTokens = 0;
      for (const input of inputs) {
        if (signal.aborted) throw new BastionError("cancelled", "The request was cancelled.");
        const tokens = model.tokenize(input);
        if (tokens.length > embedLimit) {
          throw new BastionError(
            "context_length_exceeded",
            `An input takes ${tokens.length} tokens; this model embeds at most ${embedLimit}.`,
            { param: "input" },
          );
        }
        promptTokens += tokens.length;
        const embedding = await embedder.getEmbeddingFor(tokens);
        vectors.push(Float32Array.from(embedding.vector));
      }
      return { vectors, promptTokens };
    });
    embeddingQueue = run.catch(() => undefined);
    return run;
  }

  return {
    id: options.id,
    info,
    generate,
    embed,
    countTokens: (request) =>
      renderPrompt(toLlamaHistory(request.messages), planToolUse(request).functions).length,
    async dispose() {
      await Promise.allSettled([...running]);
      if (embeddingContext !== undefined) await (await embeddingContext.catch(() => undefined))?.dispose();
      await context.dispose();
      await model.dispose();
    },
  };
}
