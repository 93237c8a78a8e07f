import type { ChatModelFunctions, GbnfJsonSchema } from "node-llama-cpp";
import type { ChatRequest, ToolDefinition } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { toGrammarSchema } from "./grammar.ts";

export interface ToolUsePlan {
  /** Tools the model may call on its own (`tool_choice: "auto"`), in node-llama-cpp's form. */
  functions: ChatModelFunctions | undefined;
  /** Tools one of which must be called (`"required"` or a named function): enforced by grammar. */
  forcedTools: ToolDefinition[];
}

/** Reads `tools` and `tool_choice` into how the generation must treat tools. */
export function planToolUse(request: ChatRequest): ToolUsePlan {
  const tools = request.tools ?? [];
  const toolChoice = request.toolChoice ?? (tools.length > 0 ? "auto" : "none");
  const forcedTools =
    toolChoice === "required"
      ? tools
      : typeof toolChoice === "object"
        ? tools.filter((tool) => tool.name === toolChoice.name)
        : [];
  if (typeof toolChoice === "object" && forcedTools.length === 0) {
    throw new BastionError(
      "invalid_request",
      `tool_choice names "${toolChoice.name}", which is not in tools.`,
      {
        param: "tool_choice",
      },
    );
  }
  if (toolChoice === "required" && tools.length === 0) {
    throw new BastionError("invalid_request", 'tool_choice "required" needs at least one tool in tools.', {
      param: "tool_choice",
    });
  }
  const functions = toolChoice === "auto" && tools.length > 0 ? toFunctions(tools) : undefined;
  return { functions, forcedTools };
}

function toFunctions(tools: readonly ToolDefinition[]): ChatModelFunctions {
  const functions: Record<string, { description?: string; params?: GbnfJsonSchema }> = {};
  tools.forEach((tool, index) => {
    functions[tool.name] = {
      ...(tool.description === undefined ? {} : { description: tool.description }),
      ...(tool.parameters === undefined
        ? {}
        : {
            params: toGrammarSchema(tool.parameters, `tools[${index}].function.parameters`) as GbnfJsonSchema,
          }),
    };
  });
  return functions;
}

let callCounter = 0;
export function newToolCallId(): string {
  callCounter = (callCounter + 1) % 1_000_000;
  return `call_${Date.now().toString(36)}${callCounter.toString(36)}`;
}

/** Reads the JSON a forced tool call produced; undefined when it was cut short. */
export function parseForcedCall(text: string): { name: string; arguments: string } | undefined {
  try {
    const parsed = JSON.parse(text) as { name?: unknown; arguments?: unknown };
    if (typeof parsed.name !== "string") return undefined;
    return { name: parsed.name, arguments: JSON.stringify(parsed.arguments ?? {}) };
  } catch {
    return undefined;
  }
}
