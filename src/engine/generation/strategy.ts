import type { ChatHistoryItem, LlamaChat } from "node-llama-cpp";
import type { GrammarFactory } from "../grammar.ts";
import type { GenerateOptions } from "./options.ts";
import type { GenerationPlan } from "./plan.ts";
import type { ToolCallStream } from "./tool-stream.ts";

export type ChatResult = Awaited<ReturnType<LlamaChat["generateResponse"]>>;
export type StopMetadata = ChatResult["metadata"];

/** What every strategy gets: the slot's chat, the request's history and options, and helpers. */
export interface StrategyContext {
  chat: LlamaChat;
  history: ChatHistoryItem[];
  /** `maxTokens` here is the request's whole cap; later phases get what `sampled()` leaves. */
  options: GenerateOptions;
  plan: GenerationPlan;
  grammars: GrammarFactory;
  tools: ToolCallStream;
  /** Tokens sampled so far for this request, every phase together. */
  sampled(): number;
  /** Makes the slot's chat wrapper start the next generation inside a function call. */
  forceFunctionCall(on: boolean): void;
}

/** One way of generating (plain, JSON grammar, tools, ...): runs to the end and says why it stopped. */
export type GenerationStrategy = (context: StrategyContext) => Promise<StopMetadata>;

/** Options that let node-llama-cpp call the plan's functions and stream those calls. */
export function functionOptions(context: StrategyContext) {
  return {
    functions: context.plan.functions ?? {},
    documentFunctionParams: true,
    onFunctionCall: context.tools.onFunctionCall,
    onFunctionCallParamsChunk: context.tools.onParamsChunk,
  };
}

/** Tokens a later phase may still generate under the request's hard cap. */
export function remainingTokens(context: StrategyContext): number {
  return context.options.maxTokens - context.sampled();
}
