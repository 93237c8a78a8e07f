import { z } from "zod";
import type {
  ChatMessage,
  ChatRequest,
  ReasoningEffort,
  ResponseFormat,
  SamplingOptions,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from "../../core/chat.ts";
import type { IssueParams } from "../error-response.ts";

/*
 * The wire format of `POST /v1/chat/completions`: the single source of its types. Unknown fields
 * are stripped, not refused (OpenAI clients add fields all the time), but a known field with a
 * wrong type or value is a 400 naming it. Optional fields also accept `null`, which several
 * clients send for "not given".
 */

const unsupported: IssueParams = { bastionCode: "unsupported_parameter" };

/** Parts other than text are recognised only to refuse them with a clear message. */
const contentPartSchema = z
  .object({ type: z.string(), text: z.unknown().optional(), refusal: z.unknown().optional() })
  .superRefine((part, ctx) => {
    if (part.type === "text" || part.type === "refusal") {
      const key = part.type;
      if (typeof part[key] !== "string") {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `A '${key}' content part needs a string '${key}'.`,
        });
      }
      return;
    }
    const what =
      part.type === "image_url" || part.type === "input_image"
        ? "Images are"
        : part.type === "input_audio"
          ? "Audio inputs are"
          : part.type === "file"
            ? "File inputs are"
            : `Content parts of type '${part.type}' are`;
    ctx.addIssue({
      code: "custom",
      path: ["type"],
      message: `${what} not supported by this model; send text content parts only.`,
      params: unsupported,
    });
  });

const contentSchema = z.union([z.string(), z.array(contentPartSchema)], {
  error: "Expected a string or an array of text content parts.",
});

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal("function").optional(),
  function: z.object({
    name: z.string().min(1),
    // Some clients send the parsed object back instead of its JSON text; both are accepted.
    arguments: z
      .union([z.string(), z.record(z.string(), z.unknown())], {
        error: "Expected the arguments as JSON text.",
      })
      .default("{}"),
  }),
});

const roles = ["system", "developer", "user", "assistant", "tool"] as const;

const messageSchema = z
  .object({
    role: z.enum(roles, { error: `Unknown role; expected one of ${roles.join(", ")}.` }),
    content: contentSchema.nullish(),
    name: z.string().nullish(),
    reasoning_content: z.string().nullish(),
    reasoning: z.string().nullish(),
    tool_calls: z.array(toolCallSchema).nullish(),
    tool_call_id: z.string().nullish(),
  })
  .superRefine((message, ctx) => {
    const contentMissing = message.content === undefined || message.content === null;
    if (message.role === "assistant") {
      return;
    }
    if (contentMissing) {
      ctx.addIssue({
        code: "custom",
        path: ["content"],
        message: `A '${message.role}' message needs 'content' (a string or text parts).`,
      });
    }
    if (message.role === "tool" && (message.tool_call_id === undefined || message.tool_call_id === null)) {
      ctx.addIssue({
        code: "custom",
        path: ["tool_call_id"],
        message: "A 'tool' message needs 'tool_call_id'.",
      });
    }
  });

const toolNamePattern = /^[a-zA-Z0-9_.-]{1,64}$/;

const toolSchema = z.object({
  type: z.literal("function", { error: "Only tools of type 'function' are supported." }),
  function: z.object({
    name: z.string().regex(toolNamePattern, "must be 1 to 64 letters, digits, '_', '.' or '-'"),
    description: z.string().nullish(),
    parameters: z
      .record(z.string(), z.unknown(), { error: "Expected a JSON Schema object." })
      .refine((schema) => schema.type === undefined || schema.type === "object", {
        message: "The parameters schema of a tool must have type 'object'.",
        path: ["type"],
      })
      .nullish(),
    strict: z.boolean().nullish(),
  }),
});

const toolChoiceSchema = z.union(
  [
    z.enum(["auto", "none", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
  ],
  { error: "Expected 'auto', 'none', 'required' or {type: 'function', function: {name}}." },
);

const responseFormatSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: z.object({
        name: z.string().min(1).max(64),
        description: z.string().nullish(),
        schema: z.record(z.string(), z.unknown(), { error: "Expected a JSON Schema object." }).nullish(),
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: "Expected a response_format of type 'text', 'json_object' or 'json_schema'." },
);

const reasoningEfforts = ["none", "minimal", "low", "medium", "high", "xhigh"] as const;

const positiveInt = z.int().positive();

export const chatCompletionRequestSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(messageSchema).min(1, "'messages' must contain at least one message."),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    // llama.cpp and vLLM extensions, harmless to accept.
    top_k: z.int().min(0).nullish(),
    min_p: z.number().min(0).max(1).nullish(),
    repeat_penalty: z.number().gt(0).max(10).nullish(),
    max_tokens: positiveInt.nullish(),
    max_completion_tokens: positiveInt.nullish(),
    stop: z
      .union([z.string(), z.array(z.string()).max(4, "at most 4 stop sequences are allowed")], {
        error: "Expected a string or an array of up to 4 strings.",
      })
      .nullish(),
    seed: z.int().nullish(),
    presence_penalty: z.number().min(-2).max(2).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    response_format: responseFormatSchema.nullish(),
    tools: z.array(toolSchema).max(128).nullish(),
    tool_choice: toolChoiceSchema.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    n: positiveInt.nullish(),
    reasoning_effort: z.enum(reasoningEfforts).nullish(),
    max_reasoning_tokens: z.int().min(0).nullish(),
    user: z.string().nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.int().min(0).max(20).nullish(),
    functions: z.unknown().optional(),
    function_call: z.unknown().optional(),
  })
  .superRefine((request, ctx) => {
    if (typeof request.n === "number" && request.n > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["n"],
        message: "Only n=1 is supported: send one request per completion you need.",
        params: unsupported,
      });
    }
    if (request.logprobs === true) {
      ctx.addIssue({
        code: "custom",
        path: ["logprobs"],
        message: "logprobs are not supported by this server.",
        params: unsupported,
      });
    }
    if (request.functions !== undefined || request.function_call !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [request.functions !== undefined ? "functions" : "function_call"],
        message:
          "'functions' and 'function_call' are deprecated and not supported; use 'tools' and 'tool_choice'.",
        params: unsupported,
      });
    }
    const toolNames = new Set<string>();
    for (const [index, tool] of (request.tools ?? []).entries()) {
      if (toolNames.has(tool.function.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["tools", index, "function", "name"],
          message: `Duplicate tool name '${tool.function.name}'.`,
        });
      }
      toolNames.add(tool.function.name);
    }
    const choice = request.tool_choice;
    if (choice === "required" && toolNames.size === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["tool_choice"],
        message: "tool_choice 'required' needs at least one tool in 'tools'.",
      });
    }
    if (typeof choice === "object" && choice !== null && !toolNames.has(choice.function.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["tool_choice", "function", "name"],
        message: `tool_choice names the function '${choice.function.name}', which is not in 'tools'.`,
      });
    }
  });

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
type WireMessage = z.infer<typeof messageSchema>;

/** What the wire request asks of the response, beyond the core request. */
export interface ChatResponseOptions {
  stream: boolean;
  includeUsage: boolean;
}

/** Converts a validated wire request to the core `ChatRequest`. */
export function toChatRequest(wire: ChatCompletionRequest): ChatRequest {
  const request: ChatRequest = {
    model: wire.model,
    messages: wire.messages.map(toChatMessage),
    sampling: toSampling(wire),
  };
  const maxTokens = wire.max_completion_tokens ?? wire.max_tokens;
  if (maxTokens != null) request.maxTokens = maxTokens;
  const stop =
    wire.stop == null ? [] : (typeof wire.stop === "string" ? [wire.stop] : wire.stop).filter(Boolean);
  if (stop.length > 0) request.stop = stop;
  if (wire.response_format != null) request.responseFormat = toResponseFormat(wire.response_format);
  if (wire.tools != null && wire.tools.length > 0) request.tools = wire.tools.map(toToolDefinition);
  if (wire.tool_choice != null) request.toolChoice = toToolChoice(wire.tool_choice);
  const effort = wire.reasoning_effort;
  if (effort === "none") request.maxReasoningTokens = 0;
  else if (effort != null) request.reasoningEffort = toReasoningEffort(effort);
  if (wire.max_reasoning_tokens != null) request.maxReasoningTokens = wire.max_reasoning_tokens;
  return request;
}

/** Stream flags of a validated wire request. */
export function toResponseOptions(wire: ChatCompletionRequest): ChatResponseOptions {
  return { stream: wire.stream === true, includeUsage: wire.stream_options?.include_usage === true };
}

function toSampling(wire: ChatCompletionRequest): SamplingOptions {
  const sampling: SamplingOptions = {};
  if (wire.temperature != null) sampling.temperature = wire.temperature;
  if (wire.top_p != null) sampling.topP = wire.top_p;
  if (wire.top_k != null) sampling.topK = wire.top_k;
  if (wire.min_p != null) sampling.minP = wire.min_p;
  if (wire.seed != null) sampling.seed = wire.seed;
  if (wire.presence_penalty != null) sampling.presencePenalty = wire.presence_penalty;
  if (wire.frequency_penalty != null) sampling.frequencyPenalty = wire.frequency_penalty;
  if (wire.repeat_penalty != null) sampling.repeatPenalty = wire.repeat_penalty;
  return sampling;
}

function toReasoningEffort(effort: Exclude<(typeof reasoningEfforts)[number], "none">): ReasoningEffort {
  if (effort === "minimal") return "low";
  if (effort === "xhigh") return "high";
  return effort;
}

/** Text of string or part content; parts are joined by newlines. Lone surrogates are repaired. */
function contentText(content: WireMessage["content"]): string {
  if (content == null) return "";
  const text =
    typeof content === "string"
      ? content
      : content.map((part) => (part.type === "refusal" ? part.refusal : part.text) as string).join("\n");
  return text.toWellFormed();
}

function toChatMessage(message: WireMessage): ChatMessage {
  const content = contentText(message.content);
  switch (message.role) {
    case "system":
    case "developer":
      return { role: "system", content };
    case "user":
      return { role: "user", content };
    case "tool":
      return { role: "tool", content, toolCallId: message.tool_call_id ?? "" };
    case "assistant": {
      const split = splitThought(content);
      const reasoning = [message.reasoning_content ?? message.reasoning ?? "", split.reasoning]
        .filter((part) => part.length > 0)
        .join("\n");
      const assistant: ChatMessage = { role: "assistant", content: split.content };
      if (reasoning.length > 0) assistant.reasoning = reasoning.toWellFormed();
      if (message.tool_calls != null && message.tool_calls.length > 0) {
        assistant.toolCalls = message.tool_calls.map(toToolCall);
      }
      return assistant;
    }
  }
}

function toToolCall(call: z.infer<typeof toolCallSchema>): ToolCall {
  const args = call.function.arguments;
  return {
    id: call.id,
    name: call.function.name,
    arguments: typeof args === "string" ? args : JSON.stringify(args),
  };
}

const thinkBlock = /<think>([\s\S]*?)(?:<\/think>|$)/g;

/**
 * Moves `<think>` segments out of assistant content: a thought sent back in history must never be
 * fed to the model as answer text. Handles closed blocks, an unclosed trailing block, and the
 * DeepSeek-R1 form where the template opened `<think>` so the content holds only `</think>`.
 */
export function splitThought(content: string): { content: string; reasoning: string } {
  const thoughts: string[] = [];
  let rest = content;
  const closeIndex = rest.indexOf("</think>");
  const openIndex = rest.indexOf("<think>");
  if (closeIndex !== -1 && (openIndex === -1 || closeIndex < openIndex)) {
    thoughts.push(rest.slice(0, closeIndex));
    rest = rest.slice(closeIndex + "</think>".length);
  }
  rest = rest.replace(thinkBlock, (_match, thought: string) => {
    thoughts.push(thought);
    return "";
  });
  const reasoning = thoughts
    .map((thought) => thought.trim())
    .filter((thought) => thought.length > 0)
    .join("\n");
  return { content: thoughts.length > 0 ? rest.trim() : rest, reasoning };
}

function toToolDefinition(tool: z.infer<typeof toolSchema>): ToolDefinition {
  const definition: ToolDefinition = { name: tool.function.name };
  if (tool.function.description != null) definition.description = tool.function.description;
  if (tool.function.parameters != null) definition.parameters = tool.function.parameters;
  return definition;
}

function toToolChoice(choice: z.infer<typeof toolChoiceSchema>): ToolChoice {
  return typeof choice === "string" ? choice : { name: choice.function.name };
}

function toResponseFormat(format: z.infer<typeof responseFormatSchema>): ResponseFormat {
  if (format.type !== "json_schema") return { type: format.type };
  const { name, schema, strict } = format.json_schema;
  // A json_schema format without a schema constrains to JSON only, as json_object does.
  if (schema == null) return { type: "json_object" };
  const result: ResponseFormat = { type: "json_schema", name, schema };
  if (strict != null) result.strict = strict;
  return result;
}
