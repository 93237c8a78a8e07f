import {
  type ChatWrapper,
  LlamaChat,
  type LlamaContext,
  type LlamaContextSequence,
  type Token,
} from "node-llama-cpp";
import { createForcibleChatWrapper } from "../forcible-chat-wrapper.ts";

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
  count: number,
): GenerationSlot[] {
  return Array.from({ length: count }, () => {
    const sequence = context.getSequence();
    const forcible = createForcibleChatWrapper(chatWrapper);
    return {
      sequence,
      chat: new LlamaChat({ contextSequence: sequence, chatWrapper: forcible.wrapper }),
      forceFunctionCall: forcible.force,
      sharedPrefixLength: (tokens) => sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex,
    };
  });
}
