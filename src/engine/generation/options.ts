import type { LLamaContextualRepeatPenalty, LlamaChatResponseChunk } from "node-llama-cpp";
import type { ChatRequest } from "../../core/chat.ts";

/** Sampling defaults and thought budgets of one model; set per model in the config. */
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

/** The generation options every request sets; grammar or functions are added per strategy. */
export interface GenerateOptions {
  signal: AbortSignal;
  stopOnAbortSignal: boolean;
  onResponseChunk: (chunk: LlamaChatResponseChunk) => void;
  maxTokens: number;
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  repeatPenalty: false | LLamaContextualRepeatPenalty;
  customStopTriggers?: string[];
  budgets?: { thoughtTokens: number };
  contextShift: { strategy: "eraseFirstResponseAndKeepFirstSystem" };
}

/** The thought budget a request asks for, explicitly or through `reasoning_effort`. */
export function thoughtBudget(request: ChatRequest, defaults: GenerationDefaults): number | undefined {
  if (request.maxReasoningTokens !== undefined) return request.maxReasoningTokens;
  if (request.reasoningEffort !== undefined) return defaults.reasoningBudgets[request.reasoningEffort];
  return undefined;
}

/** node-llama-cpp's options for a request's sampling, stop sequences, budget and token cap. */
export function generateOptions(
  request: ChatRequest,
  defaults: GenerationDefaults,
  run: { signal: AbortSignal; maxTokens: number; onResponseChunk: GenerateOptions["onResponseChunk"] },
): GenerateOptions {
  const sampling = request.sampling;
  const penalties = sampling.presencePenalty !== undefined || sampling.frequencyPenalty !== undefined;
  const budget = thoughtBudget(request, defaults);
  const topP = sampling.topP ?? defaults.topP;
  return {
    signal: run.signal,
    stopOnAbortSignal: true,
    onResponseChunk: run.onResponseChunk,
    maxTokens: run.maxTokens,
    temperature: sampling.temperature ?? defaults.temperature,
    ...(topP === undefined ? {} : { topP }),
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
        : false,
    ...(request.stop === undefined || request.stop.length === 0 ? {} : { customStopTriggers: request.stop }),
    ...(budget === undefined ? {} : { budgets: { thoughtTokens: budget } }),
    contextShift: { strategy: "eraseFirstResponseAndKeepFirstSystem" },
  };
}
