import type { ChatHistoryItem } from "node-llama-cpp";
import { functionOptions, type StopMetadata, type StrategyContext } from "./strategy.ts";

export interface ThinkPhaseResult {
  /** The history to continue: the model's turn holds the thought, if there was one. */
  turn: ChatHistoryItem[];
  /** Set when the phase ended the generation itself (client gone, tool calls, cap, end of turn). */
  ended?: StopMetadata;
}

/**
 * A grammar or a forced call applies from the first generated token, which would forbid a
 * reasoning model its thought. So the model thinks freely first (and, with `withTools`, may call a
 * tool on its own); the first answer text, or the thought closing, ends this phase and the
 * constrained phase continues the same model turn.
 */
export async function thinkPhase(context: StrategyContext, withTools: boolean): Promise<ThinkPhaseResult> {
  const { options, history } = context;
  const thinking = new AbortController();
  const stopThinking = () => thinking.abort();
  options.signal.addEventListener("abort", stopThinking, { once: true });
  let thought = "";
  let closed = false;
  let result: Awaited<ReturnType<typeof context.chat.generateResponse>>;
  try {
    result = await context.chat.generateResponse(history, {
      ...options,
      ...(withTools ? functionOptions(context) : {}),
      signal: thinking.signal,
      onResponseChunk: (chunk) => {
        if (thinking.signal.aborted) return;
        if (chunk.type === "segment") {
          if (chunk.segmentType !== "thought") return;
          options.onResponseChunk(chunk);
          thought += chunk.text;
          if (chunk.segmentEndTime !== undefined) {
            closed = true;
            thinking.abort();
          }
        } else if (withTools ? chunk.text.trim() !== "" : chunk.tokens.length > 0) {
          // Answer text began (and, with tools, it is not a call): the constrained phase takes over here.
          thinking.abort();
        }
      },
    });
  } finally {
    options.signal.removeEventListener("abort", stopThinking);
  }
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
  // Only our own abort (thought closed, answer text began) hands over to the constrained phase;
  // the client going away, a tool call, the cap or the end of the turn end the generation here.
  if (options.signal.aborted || result.metadata.stopReason !== "abort")
    return { turn, ended: result.metadata };
  return { turn };
}
