import type { GenerationStrategy } from "./strategy.ts";

/** The whole answer under the response format's grammar, from the first token (models that do not think). */
export const jsonGrammarStrategy: GenerationStrategy = async ({ chat, history, options, plan, grammars }) => {
  const grammar =
    plan.responseFormat === undefined ? undefined : await grammars.forResponseFormat(plan.responseFormat);
  return (await chat.generateResponse(history, { ...options, ...(grammar === undefined ? {} : { grammar }) }))
    .metadata;
};
