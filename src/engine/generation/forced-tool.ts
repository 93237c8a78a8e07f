import { functionOptions, type GenerationStrategy, remainingTokens } from "./strategy.ts";
import { thinkPhase } from "./think-phase.ts";

/**
 * `tool_choice: "required"` or a named function: the model sees the tools in its own format (as
 * under `auto`), may think first, and then starts inside its own call syntax, so a call is all it
 * can produce; node-llama-cpp constrains the name to the offered tools and the arguments to their
 * schema, and streams them as they come.
 */
export const forcedToolStrategy: GenerationStrategy = async (context) => {
  let turn = context.history;
  if (context.plan.thinkFirst) {
    const phase = await thinkPhase(context, true);
    if (phase.ended !== undefined && phase.ended.stopReason !== "eogToken") return phase.ended;
    turn = phase.turn;
  }
  const left = remainingTokens(context);
  if (left < 1) return { stopReason: "maxTokens" };
  context.forceFunctionCall(true);
  try {
    const result = await context.chat.generateResponse(turn, {
      ...context.options,
      ...functionOptions(context),
      maxTokens: left,
    });
    return result.metadata;
  } finally {
    context.forceFunctionCall(false);
  }
};
