import {
  type ChatWrapper,
  DraftSequenceTokenPredictor,
  LlamaChat,
  type LlamaContext,
  type LlamaContextSequence,
  type Token,
  type TokenPredictor,
} from "node-llama-cpp";
import { createForcibleChatWrapper } from "../forcible-chat-wrapper.ts";
import { AdaptiveLookupPredictor } from "../prompt-lookup.ts";

/** One sequence of the context, with its chat and the switch of its chat wrapper. */
export interface GenerationSlot {
  sequence: LlamaContextSequence;
  chat: LlamaChat;
  forceFunctionCall(on: boolean): void;
  /** How many leading tokens of `tokens` this slot already holds in its KV cache. */
  sharedPrefixLength(tokens: readonly number[]): number;
}

/** Every sequence of a context as a slot; each has its own wrapper switch, so none leaks into another request. */
export function createGenerationSlots(
  context: LlamaContext,
  chatWrapper: ChatWrapper,
  options: {
    count: number;
    speculative: "prompt-lookup" | "off";
    draftContexts?: LlamaContext[] | undefined;
  },
): GenerationSlot[] {
  return Array.from({ length: options.count }, (_, index) => {
    const draftContext = options.draftContexts?.[index];
    // A predictor per sequence: node-llama-cpp forbids sharing one.
    const tokenPredictor: TokenPredictor | undefined =
      draftContext !== undefined
        ? new DraftSequenceTokenPredictor(draftContext.getSequence(), {
            maxTokens: 8,
            minConfidence: 0.6,
          })
        : options.speculative === "prompt-lookup"
          ? new AdaptiveLookupPredictor()
          : undefined;
    const sequence = context.getSequence(tokenPredictor === undefined ? {} : { tokenPredictor });
    const forcible = createForcibleChatWrapper(chatWrapper);
    return {
      sequence,
      chat: new LlamaChat({ contextSequence: sequence, chatWrapper: forcible.wrapper }),
      forceFunctionCall: forcible.force,
      sharedPrefixLength: (tokens) => sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex,
    };
  });
}
