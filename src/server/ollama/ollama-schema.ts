import { z } from "zod";
import type {
  ChatMessage,
  ChatRequest,
  ResponseFormat,
  SamplingOptions,
  ToolCall,
  ToolDefinition,
} from "../../core/chat.ts";
import type { IssueParams } from "../error-response.ts";
import { splitThought } from "../openai/chat-schema.ts";

/*
 * The wire format of Ollama's `/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings` and
 * `/api/show`: the single source of their types. As Ollama does, unknown fields and unknown
 * `options` are ignored; a known field with a wrong type is a 400 naming it.
 */

const unsupported: IssueParams = { bastionCode: "unsupported_parameter" };

/**
 * Ollama's runner options. Only those that shape sampling are read; the rest (`num_ctx`,
 * `num_thread`, `num_gpu`, `mirostat`...) describe how Ollama itself would load the model, which
 * Bastion's configuration decides, so they are accepted and ignored.
 */
const optionsSchema = z.object({
  temperature: z.number().min(0).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.int().min(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.int().nullish(),
  num_predict: z
    .int()
    .refine((value) => value > 0 || value === -1 || value === -2, {
      message:
        "'options.num_predict' must be a positive number of tokens, or -1 (no limit) or -2 (fill the context).",
    })
    .nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  repeat_penalty: z.number().gt(0).max(10).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  num_ctx: z.int().positive().nullish(),
});

/** `"json"`, a JSON Schema object, or `""` (no format, as some clients send). */
const formatSchema = z.union([z.literal("json"), z.literal(""), z.record(z.string(), z.unknown())], {
  error: "Expected 'json' or a JSON Schema object.",
});

const thinkSchema = z.union([z.boolean(), z.enum(["low", "medium", "high"])], {
  error: "Expected true, false, 'low', 'medium' or 'high'.",
});

const keepAliveSchema = z.union([z.string(), z.number()]).nullish();

const imagesRefused = z
  .array(z.unknown())
  .nullish()
  .refine((images) => images == null || images.length === 0, {
    message: "Images are not supported by this server; send text only.",
    params: unsupported,
  });

const toolCallSchema = z.object({
  id: z.string().nullish(),
  function: z.object({
    name: z.string().min(1),
    // Ollama sends an object; a JSON string (OpenAI's habit) is accepted too.
    arguments: z.union([z.record(z.string(), z.unknown()), z.string()]).nullish(),
  }),
});

const roles = ["system", "user", "assistant", "tool"] as const;

const messageSchema = z.object({
  role: z.enum(roles, { error: `Unknown role; expected one of ${roles.join(", ")}.` }),
  content: z.string().nullish(),
  thinking: z.string().nullish(),
  images: imagesRefused,
  tool_calls: z.array(toolCallSchema).nullish(),
  tool_name: z.string().nullish(),
  tool_call_id: z.string().nullish(),
});

const toolNamePattern = /^[a-zA-Z0-9_.-]{1,64}$/;

const toolSchema = z.object({
  type: z.literal("function", { error: "Only tools of type 'function' are supported." }).optional(),
  function: z.object({
    name: z.string().regex(toolNamePattern, "must be 1 to 64 letters, digits, '_', '.' or '-'"),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown(), { error: "Expected a JSON Schema object." }).nullish(),
  }),
});

const commonFields = {
  model: z.string().min(1),
  format: formatSchema.nullish(),
  options: optionsSchema.nullish(),
  stream: z.boolean().nullish(),
  think: thinkSchema.nullish(),
  keep_alive: keepAliveSchema,
  logprobs: z
    .boolean()
    .nullish()
    .refine((logprobs) => logprobs !== true, {
      message: "'logprobs' are not supported by this server.",
      params: unsupported,
    }),
};

export const ollamaChatRequestSchema = z
  .object({
    ...commonFields,
    messages: z.array(messageSchema).nullish(),
    tools: z.array(toolSchema).max(128).nullish(),
  })
  .superRefine((request, ctx) => {
    const last = (request.messages?.length ?? 0) - 1;
    if (request.messages?.[last]?.role === "assistant") {
      ctx.addIssue({
        code: "custom",
        path: ["messages", last, "role"],
        message:
          "The last message must not be from the assistant: continuing a partial answer (prefill) is not supported.",
        params: unsupported,
      });
    }
    const names = new Set<string>();
    for (const [index, tool] of (request.tools ?? []).entries()) {
      if (names.has(tool.function.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["tools", index, "function", "name"],
          message: `Duplicate tool name '${tool.function.name}'.`,
        });
      }
      names.add(tool.function.name);
    }
  });

export const ollamaGenerateRequestSchema = z.object({
  ...commonFields,
  prompt: z.string().nullish(),
  system: z.string().nullish(),
  images: imagesRefused,
  suffix: z
    .string()
    .nullish()
    .refine((suffix) => suffix == null || suffix === "", {
      message: "'suffix' (fill-in-the-middle) is not supported; send the whole prompt.",
      params: unsupported,
    }),
  template: z
    .string()
    .nullish()
    .refine((template) => template == null || template === "", {
      message: "'template' is not supported: Bastion renders prompts with the model's own chat template.",
      params: unsupported,
    }),
  raw: z
    .boolean()
    .nullish()
    .refine((raw) => raw !== true, {
      message: "'raw' prompts are not supported: Bastion always applies the model's chat template.",
      params: unsupported,
    }),
  context: z
    .array(z.number())
    .nullish()
    .refine((context) => context == null || context.length === 0, {
      message:
        "'context' is not supported (Bastion does not return token ids); use /api/chat for conversations.",
      params: unsupported,
    }),
});

export const ollamaEmbedRequestSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()).max(2048)], {
      error: "Expected a string or an array of strings.",
    }),
    truncate: z.boolean().nullish(),
    dimensions: z.int().positive().nullish(),
    options: optionsSchema.nullish(),
    keep_alive: keepAliveSchema,
  })
  .superRefine((request, ctx) => {
    const inputs = typeof request.input === "string" ? [request.input] : request.input;
    if (inputs.length === 0)
      ctx.addIssue({ code: "custom", path: ["input"], message: "'input' must not be empty." });
    for (const [index, input] of inputs.entries()) {
      if (input.length === 0) {
        const path = typeof request.input === "string" ? ["input"] : ["input", index];
        ctx.addIssue({ code: "custom", path, message: "An embedding input must not be an empty string." });
        return;
      }
    }
  });

export const ollamaEmbeddingsRequestSchema = z.object({
  model: z.string().min(1),
  prompt: z.string().min(1, "'prompt' must not be empty."),
  options: optionsSchema.nullish(),
  keep_alive: keepAliveSchema,
});

/** `/api/show` takes `model`; older clients send `name`. */
export const ollamaShowRequestSchema = z
  .object({
    model: z.string().min(1).nullish(),
    name: z.string().min(1).nullish(),
    verbose: z.boolean().nullish(),
  })
  .refine((request) => request.model != null || request.name != null, {
    message: "Missing required parameter: 'model'.",
    path: ["model"],
  });

export type OllamaChatRequest = z.infer<typeof ollamaChatRequestSchema>;
export type OllamaGenerateRequest = z.infer<typeof ollamaGenerateRequestSchema>;
export type OllamaEmbedRequest = z.infer<typeof ollamaEmbedRequestSchema>;
type OllamaOptions = z.infer<typeof optionsSchema>;
type OllamaMessage = z.infer<typeof messageSchema>;
type CommonRequest = Pick<OllamaChatRequest, "model" | "format" | "options" | "think">;

/** Converts a validated `/api/chat` body to the core `ChatRequest` (messages must be non-empty). */
export function chatToChatRequest(wire: OllamaChatRequest): ChatRequest {
  const request = commonToChatRequest(wire, toChatMessages(wire.messages ?? []));
  if (wire.tools != null && wire.tools.length > 0) {
    request.tools = wire.tools.map(toToolDefinition);
    request.toolChoice = "auto";
  }
  return request;
}

/** Converts a validated `/api/generate` body: the prompt is one user turn after the optional system. */
export function generateToChatRequest(wire: OllamaGenerateRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  if (wire.system != null && wire.system !== "") messages.push({ role: "system", content: wire.system });
  messages.push({ role: "user", content: (wire.prompt ?? "").toWellFormed() });
  return commonToChatRequest(wire, messages);
}

function commonToChatRequest(wire: CommonRequest, messages: ChatMessage[]): ChatRequest {
  const options = wire.options ?? {};
  const request: ChatRequest = { model: wire.model, messages, sampling: toSampling(options) };
  const numPredict = options.num_predict;
  if (numPredict != null && numPredict > 0) request.maxTokens = numPredict;
  const stop = options.stop == null ? [] : typeof options.stop === "string" ? [options.stop] : options.stop;
  const stops = stop.filter((sequence) => sequence.length > 0);
  if (stops.length > 0) request.stop = stops;
  const format = toResponseFormat(wire.format);
  if (format !== undefined) request.responseFormat = format;
  // `think: false` turns the thought off; a level maps to a budget; absent leaves the model's default.
  if (wire.think === false) request.maxReasoningTokens = 0;
  else if (typeof wire.think === "string") request.reasoningEffort = wire.think;
  return request;
}

function toSampling(options: OllamaOptions): SamplingOptions {
  const sampling: SamplingOptions = {};
  if (options.temperature != null) sampling.temperature = options.temperature;
  if (options.top_p != null) sampling.topP = options.top_p;
  if (options.top_k != null) sampling.topK = options.top_k;
  if (options.min_p != null) sampling.minP = options.min_p;
  if (options.seed != null) sampling.seed = options.seed;
  if (options.repeat_penalty != null) sampling.repeatPenalty = options.repeat_penalty;
  if (options.presence_penalty != null) sampling.presencePenalty = options.presence_penalty;
  if (options.frequency_penalty != null) sampling.frequencyPenalty = options.frequency_penalty;
  return sampling;
}

function toResponseFormat(format: OllamaChatRequest["format"]): ResponseFormat | undefined {
  if (format == null || format === "") return undefined;
  if (format === "json") return { type: "json_object" };
  return { type: "json_schema", name: "response", schema: format, strict: true };
}

function toToolDefinition(tool: z.infer<typeof toolSchema>): ToolDefinition {
  const definition: ToolDefinition = { name: tool.function.name };
  if (tool.function.description != null) definition.description = tool.function.description;
  if (tool.function.parameters != null) definition.parameters = tool.function.parameters;
  return definition;
}

/**
 * Ollama's history carries tool calls without ids and answers them by `tool_name`: each call gets
 * an id here, and each tool message is matched to the oldest unanswered call of that name (or to
 * its `tool_call_id`, which newer clients send), so the engine pairs results with their calls.
 */
function toChatMessages(messages: readonly OllamaMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  const pending: ToolCall[] = [];
  for (const [messageIndex, message] of messages.entries()) {
    const content = (message.content ?? "").toWellFormed();
    switch (message.role) {
      case "system":
      case "user":
        out.push({ role: message.role, content });
        break;
      case "assistant": {
        const split = splitThought(content);
        const reasoning = [message.thinking ?? "", split.reasoning]
          .filter((part) => part.length > 0)
          .join("\n");
        const assistant: ChatMessage = { role: "assistant", content: split.content };
        if (reasoning.length > 0) assistant.reasoning = reasoning.toWellFormed();
        const calls = (message.tool_calls ?? []).map((call, callIndex) => ({
          id: call.id ?? `call_${messageIndex}_${callIndex}`,
          name: call.function.name,
          arguments:
            typeof call.function.arguments === "string"
              ? call.function.arguments
              : JSON.stringify(call.function.arguments ?? {}),
        }));
        if (calls.length > 0) assistant.toolCalls = calls;
        pending.push(...calls);
        out.push(assistant);
        break;
      }
      case "tool": {
        const byId =
          message.tool_call_id == null ? -1 : pending.findIndex((c) => c.id === message.tool_call_id);
        const byName =
          message.tool_name == null ? -1 : pending.findIndex((c) => c.name === message.tool_name);
        const index = byId !== -1 ? byId : byName !== -1 ? byName : pending.length > 0 ? 0 : -1;
        const call = index === -1 ? undefined : pending.splice(index, 1)[0];
        const toolCallId = call?.id ?? message.tool_call_id ?? message.tool_name ?? "tool";
        out.push({ role: "tool", content, toolCallId });
        break;
      }
    }
  }
  return out;
}
