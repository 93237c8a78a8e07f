import type { GenerationStrategy } from "./strategy.ts";

/** Free text (and a free thought, for reasoning models). */
export const plainStrategy: GenerationStrategy = async ({ chat, history, options }) =>
  (await chat.generateResponse(history, options)).metadata;
