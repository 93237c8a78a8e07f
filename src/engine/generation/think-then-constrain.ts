import { type GenerationStrategy, remainingTokens } from "./strategy.ts";
import { thinkPhase } from "./think-phase.ts";

/**
 * A JSON answer from a model that thinks first, or from any model offered tools on `auto`: a free
 * phase (thought, or a tool call), then the answer text under the format's grammar.
 */
export const thinkThenConstrainStrategy: GenerationStrategy = async (context) => {
  const withTools = context.plan.functions !== undefined;
  const phase = await thinkPhase(context, withTools);
  if (phase.ended !== undefined) return phase.ended;
  const left = remainingTokens(context);
  if (left < 1) return { stopReason: "maxTokens" };
  const format = context.plan.responseFormat;
  const grammar = format === undefined ? undefined : await context.grammars.forResponseFormat(format);
  const result = await context.chat.generateResponse(phase.turn, {
    ...context.options,
    maxTokens: left,
    ...(grammar === undefined ? {} : { grammar }),
  });
  return result.metadata;
};
