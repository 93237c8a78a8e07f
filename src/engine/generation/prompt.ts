import type { ChatHistoryItem, ChatWrapper, LlamaModel, Token } from "node-llama-cpp";
import type { ChatRequest } from "../../core/chat.ts";
import { BastionError } from "../../core/errors.ts";
import { toLlamaHistory } from "../history.ts";
import { type GenerationDefaults, thoughtBudget } from "./options.ts";
import { type GenerationPlan, planGeneration } from "./plan.ts";

export interface PreparedRequest {
  plan: GenerationPlan;
  history: ChatHistoryItem[];
  /** The prompt as the model will see it: template, history and tools. */
  promptTokens: Token[];
}

/** Plans a request and renders its prompt exactly as the generation will (tools included). */
export function prepareRequest(
  request: ChatRequest,
  model: { llama: LlamaModel; chatWrapper: ChatWrapper; reasoning: boolean },
  defaults: GenerationDefaults,
): PreparedRequest {
  const plan = planGeneration(request, model, thoughtBudget(request, defaults));
  const history = toLlamaHistory(request.messages);
  const state = model.chatWrapper.generateContextState({
    chatHistory: history,
    ...(plan.functions === undefined
      ? {}
      : { availableFunctions: plan.functions, documentFunctionParams: true }),
  });
  return { plan, history, promptTokens: state.contextText.tokenize(model.llama.tokenizer) };
}

/**
 * Tokens the completion may take: what the context leaves after the prompt, or `max_tokens`.
 * @throws BastionError context_length_exceeded with the token counts, before any slot is taken.
 */
export function completionAllowance(request: ChatRequest, promptTokens: number, contextSize: number): number {
  const available = contextSize - promptTokens;
  if (available < 1 || (request.maxTokens !== undefined && request.maxTokens > available)) {
    const asked = request.maxTokens ?? 1;
    throw new BastionError(
      "context_length_exceeded",
      `This model's context is ${contextSize} tokens per request, but the messages take ${promptTokens} tokens and ${asked} more were requested for the completion (${promptTokens + asked} in all). Shorten the messages or lower max_tokens.`,
      { param: "messages" },
    );
  }
  return Math.min(request.maxTokens ?? available, available);
}
