import type { ChatHistoryItem } from "node-llama-cpp";
import { type LlamaChatResponseChunk, TokenMeter } from "node-llama-cpp";
import type { ChatRequest, ChatStreamPart, FinishReason } from "../../core/chat.ts";
import type { GrammarFactory } from "../grammar.ts";
import { forcedToolStrategy } from "./forced-tool.ts";
import { jsonGrammarStrategy } from "./json-grammar.ts";
import { type GenerationDefaults, generateOptions } from "./options.ts";
import { plainStrategy } from "./plain.ts";
import type { GenerationMode, GenerationPlan } from "./plan.ts";
import type { GenerationSlot } from "./slot.ts";
import type { GenerationStrategy, StopMetadata } from "./strategy.ts";
import { thinkThenConstrainStrategy } from "./think-then-constrain.ts";
import { createToolCallStream } from "./tool-stream.ts";
import { toolsAutoStrategy } from "./tools-auto.ts";

const strategies: Record<GenerationMode, GenerationStrategy> = {
  plain: plainStrategy,
  "json-grammar": jsonGrammarStrategy,
  "tools-auto": toolsAutoStrategy,
  "forced-tool": forcedToolStrategy,
  "think-then-constrain": thinkThenConstrainStrategy,
};

export interface RunGenerationInput {
  request: ChatRequest;
  plan: GenerationPlan;
  history: ChatHistoryItem[];
  promptTokens: number;
  cachedPromptTokens: number;
  /** The hard cap on sampled tokens, reasoning included. */
  maxTokens: number;
  slot: GenerationSlot;
  defaults: GenerationDefaults;
  grammars: GrammarFactory;
  queueMs: number;
  signal: AbortSignal;
  push(part: ChatStreamPart): void;
}

/**
 * Runs one request on a leased slot with the strategy its plan names, streaming reasoning, text and
 * tool calls as they come and ending with one `finish` part whose usage counts every sampled token.
 */
export async function runGeneration(input: RunGenerationInput): Promise<void> {
  const { slot, push } = input;
  const startedAt = performance.now();
  let firstTokenAt: number | undefined;
  let reasoningTokens = 0;
  let chunkTokens = 0;
  const meterBefore = slot.sequence.tokenMeter.getState();
  const predictionsBefore = { ...slot.sequence.tokenPredictions };
  // The meter counts every position evaluated with logits. Each one yields a sampled token, except
  // the positions of speculative drafts that were refuted or left unused: those are taken off.
  const sampled = () => {
    const predictions = slot.sequence.tokenPredictions;
    const wasted =
      predictions.refuted - predictionsBefore.refuted + (predictions.unused - predictionsBefore.unused);
    return TokenMeter.diff(slot.sequence.tokenMeter, meterBefore).usedOutputTokens - wasted;
  };
  // Drafts this answer's verifications accepted and refuted (speculative decoding only).
  const drafts = () => {
    const predictions = slot.sequence.tokenPredictions;
    return {
      accepted: predictions.validated - predictionsBefore.validated,
      rejected: predictions.refuted - predictionsBefore.refuted,
    };
  };
  const tools = createToolCallStream((part) => {
    firstTokenAt ??= performance.now();
    push(part);
  });

  const onResponseChunk = (chunk: LlamaChatResponseChunk) => {
    if (chunk.tokens.length > 0) {
      firstTokenAt ??= performance.now();
      chunkTokens += chunk.tokens.length;
    }
    if (chunk.type === "segment") {
      if (chunk.segmentType !== "thought") return;
      reasoningTokens += chunk.tokens.length;
      if (chunk.text !== "") push({ type: "reasoning-delta", text: chunk.text });
      return;
    }
    if (chunk.text !== "") push({ type: "text-delta", text: chunk.text });
  };

  const options = generateOptions(input.request, input.defaults, {
    signal: input.signal,
    maxTokens: input.maxTokens,
    onResponseChunk,
  });
  const stop = await strategies[input.plan.mode]({
    chat: slot.chat,
    history: input.history,
    options,
    plan: input.plan,
    grammars: input.grammars,
    tools,
    sampled,
    forceFunctionCall: slot.forceFunctionCall,
  });
  const calls = tools.finish();
  let finishReason = finishReasonOf(stop.stopReason);
  if (calls > 0 && finishReason === "stop") finishReason = "tool_calls";

  const endedAt = performance.now();
  // The meter counts every sampled token, the thought's markers included, which no chunk carries;
  // the end-of-generation token is sampled but not part of the completion.
  const endedOnEog = stop.stopReason === "eogToken";
  const completionTokens = Math.max(chunkTokens, sampled() - (endedOnEog ? 1 : 0));
  push({
    type: "finish",
    finishReason,
    usage: {
      promptTokens: input.promptTokens,
      completionTokens,
      reasoningTokens,
      cachedPromptTokens: input.cachedPromptTokens,
    },
    ...stopSequenceOf(stop),
    timings: {
      queueMs: input.queueMs,
      promptMs: (firstTokenAt ?? endedAt) - startedAt,
      generationMs: endedAt - (firstTokenAt ?? endedAt),
      ...(slot.sequence.tokenPredictor === undefined ? {} : { drafts: drafts() }),
    },
  });
}

function finishReasonOf(stopReason: StopMetadata["stopReason"]): FinishReason {
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
function stopSequenceOf(metadata: StopMetadata): { stopSequence?: string } {
  if (metadata.stopReason !== "customStopTrigger" || metadata.customStopTrigger === undefined) return {};
  // Bastion passes stop sequences as plain strings, so the trigger holds no token ids.
  return { stopSequence: metadata.customStopTrigger.filter((part) => typeof part === "string").join("") };
}
