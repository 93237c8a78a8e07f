import { functionOptions, type GenerationStrategy } from "./strategy.ts";

/**
 * Tools on `auto`: the model sees them in its own tool format and decides; node-llama-cpp detects
 * the call syntax and enforces the arguments' schema by grammar while they stream out.
 */
export const toolsAutoStrategy: GenerationStrategy = async (context) =>
  (await context.chat.generateResponse(context.history, { ...context.options, ...functionOptions(context) }))
    .metadata;
