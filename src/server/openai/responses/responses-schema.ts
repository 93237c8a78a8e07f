import { z } from "zod";
import { filterSchema } from "../../../documents/filters.ts";

const textPart = z
  .object({
    type: z.enum(["input_text", "output_text", "text"]),
    text: z.string(),
  })
  .loose();

const otherPart = z.object({ type: z.string() }).loose();

const messageItem = z
  .object({
    type: z.literal("message").optional(),
    role: z.enum(["user", "system", "developer", "assistant"]),
    content: z.union([z.string(), z.array(z.union([textPart, otherPart]))]),
  })
  .loose();

const functionCallItem = z
  .object({
    type: z.literal("function_call"),
    call_id: z.string().min(1),
    name: z.string().min(1),
    arguments: z.string(),
  })
  .loose();

const functionCallOutputItem = z
  .object({
    type: z.literal("function_call_output"),
    call_id: z.string().min(1),
    output: z.union([z.string(), z.array(z.union([textPart, otherPart]))]),
  })
  .loose();

/** Items a client may send back that carry nothing the model needs again (the answer text rides in messages). */
const ignoredItem = z.object({ type: z.enum(["reasoning", "file_search_call"]) }).loose();

export const inputItemSchema = z.union([messageItem, functionCallItem, functionCallOutputItem, ignoredItem]);
export type InputItem = z.infer<typeof inputItemSchema>;

const functionTool = z
  .object({
    type: z.literal("function"),
    name: z.string().min(1).max(64),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  })
  .strict();

const rankingOptions = z
  .object({
    ranker: z.enum(["auto", "none", "default-2024-11-15"]).optional(),
    score_threshold: z.number().min(0).max(1).optional(),
  })
  .strict();

export const fileSearchTool = z
  .object({
    type: z.literal("file_search"),
    vector_store_ids: z.array(z.string().min(1)).min(1).max(16),
    max_num_results: z.number().int().min(1).max(50).optional(),
    filters: filterSchema.nullish(),
    ranking_options: rankingOptions.optional(),
  })
  .strict();

export type FileSearchTool = z.infer<typeof fileSearchTool>;
export type FunctionTool = z.infer<typeof functionTool>;

const toolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), name: z.string().min(1) }).strict(),
  z.object({ type: z.literal("file_search") }).strict(),
]);

const textFormat = z.union([
  z.object({ type: z.literal("text") }).strict(),
  z.object({ type: z.literal("json_object") }).strict(),
  z
    .object({
      type: z.literal("json_schema"),
      name: z.string().min(1),
      schema: z.record(z.string(), z.unknown()),
      strict: z.boolean().nullish(),
      description: z.string().optional(),
    })
    .strict(),
]);

/** `POST /v1/responses`: the subset Bastion serves; unknown fields are refused with their name. */
export const responsesRequestSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(inputItemSchema)]),
    instructions: z.string().nullish(),
    previous_response_id: z.string().min(1).nullish(),
    store: z.boolean().nullish(),
    stream: z.boolean().nullish(),
    tools: z
      .array(z.union([functionTool, fileSearchTool]))
      .max(128)
      .optional(),
    tool_choice: toolChoice.optional(),
    include: z.array(z.string()).nullish(),
    max_output_tokens: z.number().int().min(1).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    reasoning: z
      .object({
        effort: z.enum(["minimal", "low", "medium", "high"]).nullish(),
        summary: z.enum(["auto", "concise", "detailed"]).nullish(),
      })
      .loose()
      .nullish(),
    text: z.object({ format: textFormat.optional() }).loose().optional(),
    metadata: z.record(z.string(), z.string()).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    user: z.string().nullish(),
    truncation: z.enum(["auto", "disabled"]).nullish(),
    service_tier: z.string().nullish(),
  })
  .strict();

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
