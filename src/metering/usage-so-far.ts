import type { ChatRequest, ChatStreamPart, Usage } from "../core/chat.ts";

/**
 * What a stream has produced so far, for a request that ends without a finish part (the client
 * went away mid-answer): it is charged what it used up to then, not its reserved estimate. No
 * backend reports usage before the finish, so it is estimated: one token per streamed delta (the
 * engine and OpenAI-compatible servers stream a token per chunk) and the prompt from its size at
 * four characters a token (the prompt was read in full once the first part came).
 */
export interface UsageTally {
  count(part: ChatStreamPart): void;
  usage(): Usage;
}

export function createUsageTally(request: ChatRequest): UsageTally {
  let output = 0;
  let reasoning = 0;
  return {
    count(part) {
      if (part.type === "reasoning-delta") reasoning++;
      else if (part.type === "text-delta" || part.type === "tool-call-delta") output++;
    },
    usage() {
      const generated = output + reasoning;
      return {
        // Nothing came at all: the prompt may not have been read either.
        promptTokens: generated === 0 ? 0 : estimatePromptTokens(request),
        completionTokens: generated,
        reasoningTokens: reasoning,
        cachedPromptTokens: 0,
      };
    },
  };
}

/** About four characters a token, over the messages' and tools' JSON. */
export function estimatePromptTokens(request: ChatRequest): number {
  let characters = JSON.stringify(request.messages).length;
  if (request.tools !== undefined) characters += JSON.stringify(request.tools).length;
  return Math.ceil(characters / 4);
}
