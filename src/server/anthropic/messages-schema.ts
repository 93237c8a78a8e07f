import { z } from "zod";
import type {
  ChatMessage,
  ChatRequest,
  SamplingOptions,
  ToolChoice,
  ToolDefinition,
} from "../../core/chat.ts";
import type { IssueParams } from "../error-response.ts";
import { splitThought } from "../openai/chat-schema.ts";

/*
 * The wire format of Anthropic's `POST /v1/messages` and `/v1/messages/count_tokens`: the single
 * source of their types. Unknown fields are stripped (the SDK adds new ones often); a known field
 * with a wrong type, and content Bastion cannot honour (images, documents, server tools), is a 400
 * naming it.
 */

const unsupported: IssueParams = { bastionCode: "unsupported_parameter" };

const textBlockSchema = z.object({ type: z.literal("text"), text: z.string() });
const textBlocksSchema = z.array(textBlockSchema);

/** Blocks other than these are recognised only to refuse them with a clear message. */
const refusedBlockTypes: Record<string, string> = {
  image: "Images are not supported by this server; send text only.",
  document: "Document blocks are not supported here; upload documents to a vector store instead.",
  search_result: "Search result blocks are not supported; send their text as a text block.",
  server_tool_use: "Server tools are not supported by this server.",
  web_search_tool_result: "Server tools are not supported by this server.",
  container_upload: "Container uploads are not supported by this server.",
};

const contentBlockSchema = z
  .object({
    type: z.string(),
    text: z.unknown().optional(),
    id: z.unknown().optional(),
    name: z.unknown().optional(),
    input: z.unknown().optional(),
    tool_use_id: z.unknown().optional(),
    content: z.unknown().optional(),
    is_error: z.boolean().nullish(),
    thinking: z.unknown().optional(),
    signature: z.unknown().optional(),
    data: z.unknown().optional(),
  })
  .superRefine((block, ctx) => {
    const need = (key: keyof typeof block, check: (value: unknown) => boolean, what: string) => {
      if (!check(block[key])) {
        ctx.addIssue({ code: "custom", path: [key], message: `A '${block.type}' block needs ${what}.` });
      }
    };
    const isString = (value: unknown) => typeof value === "string";
    switch (block.type) {
      case "text":
        return need("text", isString, "a string 'text'");
      case "thinking":
        return need("thinking", isString, "a string 'thinking'");
      case "redacted_thinking":
        return;
      case "tool_use":
        need("id", isString, "a string 'id'");
        need("name", isString, "a string 'name'");
        return need(
          "input",
          (value) => typeof value === "object" && value !== null && !Array.isArray(value),
          "an object 'input'",
        );
      case "tool_result":
        need("tool_use_id", isString, "a string 'tool_use_id'");
        return need(
          "content",
          (value) =>
            value === undefined || typeof value === "string" || textBlocksSchema.safeParse(value).success,
          "'content' as a string or text blocks",
        );
      default:
        ctx.addIssue({
          code: "custom",
          path: ["type"],
          message:
            refusedBlockTypes[block.type] ?? `Content blocks of type '${block.type}' are not supported.`,
          params: unsupported,
        });
    }
  });

const messageSchema = z.object({
  role: z.enum(["user", "assistant"], {
    error: "Expected 'user' or 'assistant'; put system text in 'system'.",
  }),
  content: z.union([z.string(), z.array(contentBlockSchema)], {
    error: "Expected a string or an array of content blocks.",
  }),
});

const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/;

const toolSchema = z
  .object({
    type: z.string().nullish(),
    name: z.string().regex(toolNamePattern, "must be 1 to 64 letters, digits, '_' or '-'"),
    description: z.string().nullish(),
    input_schema: z
      .record(z.string(), z.unknown(), { error: "Expected a JSON Schema object." })
      .refine((schema) => schema.type === undefined || schema.type === "object", {
        message: "The input_schema of a tool must have type 'object'.",
        path: ["type"],
      })
      .nullish(),
  })
  .superRefine((tool, ctx) => {
    if (tool.type != null && tool.type !== "custom") {
      ctx.addIssue({
        code: "custom",
        path: ["type"],
        message: `Server tools ('${tool.type}') are not supported; define client tools with a name and input_schema.`,
        params: unsupported,
      });
    } else if (tool.input_schema == null) {
      ctx.addIssue({ code: "custom", path: ["input_schema"], message: "A tool needs an 'input_schema'." });
    }
  });

const toolChoiceSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().nullish() }),
    z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().nullish() }),
    z.object({
      type: z.literal("tool"),
      name: z.string().min(1),
      disable_parallel_tool_use: z.boolean().nullish(),
    }),
    z.object({ type: z.literal("none") }),
  ],
  { error: "Expected a tool_choice of type 'auto', 'any', 'tool' or 'none'." },
);

const thinkingSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("enabled"), budget_tokens: z.int().positive() }),
    z.object({ type: z.literal("disabled") }),
  ],
  { error: "Expected thinking {type: 'enabled', budget_tokens} or {type: 'disabled'}." },
);

const systemSchema = z.union([z.string(), z.array(textBlockSchema)], {
  error: "Expected a string or an array of text blocks.",
});

/** Fields that `/v1/messages` and `/v1/messages/count_tokens` share. */
const promptFields = {
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1, "'messages' must contain at least one message."),
  system: systemSchema.nullish(),
  tools: z.array(toolSchema).max(128).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  thinking: thinkingSchema.nullish(),
};

type PromptWire = z.infer<z.ZodObject<typeof promptFields>>;

function checkPrompt(request: PromptWire, ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (names.has(tool.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["tools", index, "name"],
        message: `Duplicate tool name '${tool.name}'.`,
      });
    }
    names.add(tool.name);
  }
  const choice = request.tool_choice;
  if ((choice?.type === "any" || choice?.type === "tool") && names.size === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["tool_choice"],
      message: `tool_choice '${choice.type}' needs at least one tool in 'tools'.`,
    });
  }
  if (choice?.type === "tool" && names.size > 0 && !names.has(choice.name)) {
    ctx.addIssue({
      code: "custom",
      path: ["tool_choice", "name"],
      message: `tool_choice names the tool '${choice.name}', which is not in 'tools'.`,
    });
  }
}

export const countTokensRequestSchema = z.object(promptFields).superRefine(checkPrompt);

export const messagesRequestSchema = z
  .object({
    ...promptFields,
    max_tokens: z.int().positive(),
    stop_sequences: z.array(z.string()).max(16, "at most 16 stop sequences are allowed").nullish(),
    temperature: z.number().min(0).max(1).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    top_k: z.int().min(0).nullish(),
    stream: z.boolean().nullish(),
    metadata: z.object({ user_id: z.string().nullish() }).nullish(),
    mcp_servers: z
      .array(z.unknown())
      .nullish()
      .refine((servers) => servers == null || servers.length === 0, {
        message:
          "'mcp_servers' (server-side MCP connectors) are not supported; run the MCP client in your application.",
        params: unsupported,
      }),
  })
  .superRefine((request, ctx) => {
    checkPrompt(request, ctx);
    const last = request.messages.length - 1;
    if (request.messages[last]?.role === "assistant") {
      ctx.addIssue({
        code: "custom",
        path: ["messages", last, "role"],
        message:
          "The last message must be from the user: continuing a partial assistant answer (prefill) is not supported.",
        params: unsupported,
      });
    }
    const thinking = request.thinking;
    if (thinking?.type === "enabled" && thinking.budget_tokens >= request.max_tokens) {
      ctx.addIssue({
        code: "custom",
        path: ["thinking", "budget_tokens"],
        message: `'thinking.budget_tokens' (${thinking.budget_tokens}) must be less than 'max_tokens' (${request.max_tokens}), which counts the thinking too.`,
      });
    }
  });

export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
type WireBlock = z.infer<typeof contentBlockSchema>;
type WireMessage = z.infer<typeof messageSchema>;

/** Converts a validated `/v1/messages` body to the core `ChatRequest`. */
export function toChatRequest(wire: MessagesRequest): ChatRequest {
  const request = promptToChatRequest(wire);
  request.maxTokens = wire.max_tokens;
  const sampling: SamplingOptions = {};
  if (wire.temperature != null) sampling.temperature = wire.temperature;
  if (wire.top_p != null) sampling.topP = wire.top_p;
  if (wire.top_k != null) sampling.topK = wire.top_k;
  request.sampling = sampling;
  const stops = (wire.stop_sequences ?? []).filter((sequence) => sequence.length > 0);
  if (stops.length > 0) request.stop = stops;
  return request;
}

/**
 * The prompt part of a request (system, messages, tools, thinking), shared with `count_tokens`.
 * Thinking is off unless enabled, as in Anthropic's API: clients that read `content[0].text`
 * expect no thinking block first.
 */
export function promptToChatRequest(wire: PromptWire): ChatRequest {
  const messages: ChatMessage[] = [];
  if (wire.system != null) {
    const system =
      typeof wire.system === "string" ? wire.system : wire.system.map((block) => block.text).join("\n");
    if (system !== "") messages.push({ role: "system", content: system.toWellFormed() });
  }
  for (const message of wire.messages) messages.push(...toChatMessages(message));
  const request: ChatRequest = { model: wire.model, messages, sampling: {} };
  if (wire.tools != null && wire.tools.length > 0) request.tools = wire.tools.map(toToolDefinition);
  if (wire.tool_choice != null) request.toolChoice = toToolChoice(wire.tool_choice);
  request.maxReasoningTokens = wire.thinking?.type === "enabled" ? wire.thinking.budget_tokens : 0;
  return request;
}

function toToolDefinition(tool: z.infer<typeof toolSchema>): ToolDefinition {
  const definition: ToolDefinition = { name: tool.name };
  if (tool.description != null) definition.description = tool.description;
  if (tool.input_schema != null) definition.parameters = tool.input_schema;
  return definition;
}

function toToolChoice(choice: z.infer<typeof toolChoiceSchema>): ToolChoice {
  switch (choice.type) {
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { name: choice.name };
  }
}

function textOf(blocks: WireBlock[]): string {
  return blocks
    .filter((block) => block.type === "text")
    .map((block) => block.text as string)
    .join("\n");
}

function toolResultText(content: unknown): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return (content as Array<{ type: string; text?: string }>)
    .filter((block) => block.type === "text")
    .map((block) => block.text ?? "")
    .join("\n");
}

/**
 * One Anthropic message can hold what the core splits in several: a user turn's `tool_result`
 * blocks become tool messages (before its text, as the model saw them), an assistant turn's
 * `thinking` becomes reasoning (never fed back to the model) and its `tool_use` blocks tool calls.
 */
function toChatMessages(message: WireMessage): ChatMessage[] {
  const blocks: WireBlock[] =
    typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
  if (message.role === "assistant") {
    const split = splitThought(textOf(blocks).toWellFormed());
    const thoughts = blocks
      .filter((block) => block.type === "thinking")
      .map((block) => block.thinking as string);
    const reasoning = [...thoughts, split.reasoning].filter((part) => part.length > 0).join("\n");
    const assistant: ChatMessage = { role: "assistant", content: split.content };
    if (reasoning.length > 0) assistant.reasoning = reasoning.toWellFormed();
    const calls = blocks
      .filter((block) => block.type === "tool_use")
      .map((block) => ({
        id: block.id as string,
        name: block.name as string,
        arguments: JSON.stringify(block.input),
      }));
    if (calls.length > 0) assistant.toolCalls = calls;
    return [assistant];
  }
  const out: ChatMessage[] = [];
  for (const block of blocks) {
    if (block.type !== "tool_result") continue;
    const text = toolResultText(block.content).toWellFormed();
    out.push({
      role: "tool",
      content: block.is_error === true ? `Error: ${text}` : text,
      toolCallId: block.tool_use_id as string,
    });
  }
  const text = textOf(blocks).toWellFormed();
  if (text !== "" || out.length === 0) out.push({ role: "user", content: text });
  return out;
}
