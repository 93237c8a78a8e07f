import type { ChatModelFunctions, GbnfJsonSchema } from "node-llama-cpp";
import type { ChatRequest, ResponseFormat, ToolDefinition } from "../../core/chat.ts";
import { BastionError } from "../../core/errors.ts";
import { toGrammarSchema } from "../grammar.ts";

/** How a request is generated; each mode has its own strategy file in this folder. */
export type GenerationMode = "plain" | "json-grammar" | "tools-auto" | "forced-tool" | "think-then-constrain";

export interface GenerationPlan {
  mode: GenerationMode;
  /** Tools in node-llama-cpp's form, rendered into the prompt in the model's own tool format. */
  functions?: ChatModelFunctions;
  /** A JSON format the answer text must follow (never `text`). */
  responseFormat?: Exclude<ResponseFormat, { type: "text" }>;
  /** A reasoning model thinks before the constrained part (grammar or forced call) begins. */
  thinkFirst: boolean;
}

/**
 * Decides how a request is generated. Tools are always shown to the model in its own format, under
 * `auto` and when a call is forced alike. With tools on `auto` and a JSON `response_format`, both
 * hold: the model may call a tool, and any text it writes instead is constrained to the format.
 * @param reasoning whether the model thinks before answering; `budget` 0 turns thinking off.
 */
export function planGeneration(
  request: ChatRequest,
  model: { reasoning: boolean },
  budget: number | undefined,
): GenerationPlan {
  const tools = request.tools ?? [];
  const toolChoice = request.toolChoice ?? (tools.length > 0 ? "auto" : "none");
  const thinks = model.reasoning && budget !== 0;
  const format =
    request.responseFormat === undefined || request.responseFormat.type === "text"
      ? undefined
      : request.responseFormat;
  const withFormat = format === undefined ? {} : { responseFormat: format };

  if (toolChoice === "required" || typeof toolChoice === "object") {
    const forced = toolChoice === "required" ? tools : tools.filter((tool) => tool.name === toolChoice.name);
    if (forced.length === 0) {
      throw new BastionError(
        "invalid_request",
        toolChoice === "required"
          ? 'tool_choice "required" needs at least one tool in tools.'
          : `tool_choice names "${(toolChoice as { name: string }).name}", which is not in tools.`,
        { param: "tool_choice" },
      );
    }
    // The answer is a call, never text, so a response_format has nothing to constrain.
    return { mode: "forced-tool", functions: toFunctions(forced, tools), thinkFirst: thinks };
  }
  if (toolChoice === "auto" && tools.length > 0) {
    const functions = toFunctions(tools, tools);
    if (format !== undefined)
      return { mode: "think-then-constrain", functions, ...withFormat, thinkFirst: thinks };
    return { mode: "tools-auto", functions, thinkFirst: false };
  }
  if (format !== undefined) {
    return { mode: thinks ? "think-then-constrain" : "json-grammar", ...withFormat, thinkFirst: thinks };
  }
  return { mode: "plain", thinkFirst: false };
}

/** The functions node-llama-cpp documents in the prompt and enforces by grammar when called. */
function toFunctions(chosen: readonly ToolDefinition[], all: readonly ToolDefinition[]): ChatModelFunctions {
  const functions: Record<string, { description?: string; params?: GbnfJsonSchema }> = {};
  for (const tool of chosen) {
    const index = all.indexOf(tool);
    functions[tool.name] = {
      ...(tool.description === undefined ? {} : { description: tool.description }),
      ...(tool.parameters === undefined
        ? {}
        : {
            params: toGrammarSchema(tool.parameters, `tools[${index}].function.parameters`) as GbnfJsonSchema,
          }),
    };
  }
  return functions;
}
