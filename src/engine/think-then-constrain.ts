import type {
  ChatHistoryItem,
  LLamaContextualRepeatPenalty,
  LlamaChat,
  LlamaChatResponseChunk,
  LlamaGrammar,
} from "node-llama-cpp";

/** The generation options every request sets; grammar or functions are added per request. */
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

/**
 * A grammar applies from the first generated token, which would forbid a reasoning model its
 * thought. So: let it think freely until the thought closes (or its budget runs out), then
 * generate the answer under the grammar, continuing the same model turn.
 */
export async function thinkThenConstrain(
  chat: LlamaChat,
  history: ChatHistoryItem[],
  options: GenerateOptions,
  grammar: LlamaGrammar,
): Promise<Awaited<ReturnType<LlamaChat["generateResponse"]>>> {
  const thinking = new AbortController();
  const stopThinking = () => thinking.abort();
  options.signal.addEventListener("abort", stopThinking, { once: true });
  let thought = "";
  let thoughtTokens = 0;
  let closed = false;
  let thinkingResult: Awaited<ReturnType<LlamaChat["generateResponse"]>>;
  try {
    thinkingResult = await chat.generateResponse(history, {
      ...options,
      signal: thinking.signal,
      onResponseChunk: (chunk) => {
        if (thinking.signal.aborted) return;
        if (chunk.type === "segment" && chunk.segmentType === "thought") {
          options.onResponseChunk(chunk);
          thought += chunk.text;
          thoughtTokens += chunk.tokens.length;
          if (chunk.segmentEndTime !== undefined) {
            closed = true;
            thinking.abort();
          }
        } else if (chunk.tokens.length > 0) {
          // Answer text began without a (closed) thought: drop it, the grammar takes over here.
          thinking.abort();
        }
      },
    });
  } finally {
    options.signal.removeEventListener("abort", stopThinking);
  }
  // The client went away during the thought: there is no answer to constrain.
  if (options.signal.aborted) return thinkingResult;
  const turn: ChatHistoryItem[] =
    thought === "" && !closed
      ? history
      : [
          ...history.slice(0, -1),
          {
            type: "model",
            response: [{ type: "segment", segmentType: "thought", text: thought, ended: true }],
          },
        ];
  return chat.generateResponse(turn, {
    ...options,
    maxTokens: Math.max(1, options.maxTokens - thoughtTokens - 2),
    grammar,
  });
}
