import type { ChatMessage, ChatRequest, ChatStreamPart, ToolChoice, Usage } from "../../../core/chat.ts";
import type { ChatService, ChatSession } from "../../../core/chat-service.ts";
import { BastionError } from "../../../core/errors.ts";
import type { Principal } from "../../../core/principal.ts";
import type { DocumentService } from "../../../documents/document-service.ts";
import { groundingPrompt } from "../../../documents/grounding.ts";
import { newId, nowSeconds } from "../../../documents/ids.ts";
import type { SearchHit } from "../../../documents/retrieval.ts";
import type { StoredResponses } from "../../../documents/stored-responses.ts";
import { toWireEvidence } from "../../evidence.ts";
import { attributeSentences, createCitationFilter, type FileCitation } from "./citations.ts";
import type { FileSearchTool, FunctionTool, InputItem, ResponsesRequest } from "./responses-schema.ts";

/** One streaming event, before its `sequence_number` is added. */
export type ResponseEvent = { type: string } & Record<string, unknown>;

export interface PreparedResponse {
  events: AsyncGenerator<ResponseEvent, Record<string, unknown>>;
}

export interface ResponsesContext {
  chat: ChatService;
  documents: DocumentService;
  responses: StoredResponses;
  tenantId: string;
  principal?: Principal;
  requestId: string;
  signal: AbortSignal;
  declaredDataClass?: string;
}

function partsText(content: string | Array<{ type: string; text?: unknown }>, where: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, at) => {
      if (typeof part.text === "string") return part.text;
      throw new BastionError(
        "unsupported_parameter",
        `Content of type '${part.type}' is not supported here; send text ('input_text').`,
        { param: `${where}.content[${at}]` },
      );
    })
    .join("");
}

/** Responses input items -> core chat messages. */
export function toMessages(input: ResponsesRequest["input"]): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const messages: ChatMessage[] = [];
  for (const [at, item] of (input as InputItem[]).entries()) {
    const where = `input[${at}]`;
    if ("role" in item && item.role !== undefined) {
      const text = partsText(item.content as string | Array<{ type: string; text?: unknown }>, where);
      if (item.role === "assistant") messages.push({ role: "assistant", content: text });
      else if (item.role === "user") messages.push({ role: "user", content: text });
      else messages.push({ role: "system", content: text });
    } else if (item.type === "function_call") {
      const call = {
        id: item.call_id as string,
        name: item.name as string,
        arguments: item.arguments as string,
      };
      const last = messages.at(-1);
      if (last?.role === "assistant" && last.content === "") {
        last.toolCalls = [...(last.toolCalls ?? []), call];
      } else messages.push({ role: "assistant", content: "", toolCalls: [call] });
    } else if (item.type === "function_call_output") {
      const output = item.output as string | Array<{ type: string; text?: unknown }>;
      messages.push({ role: "tool", toolCallId: item.call_id as string, content: partsText(output, where) });
    }
  }
  return messages;
}

/** Core messages -> Responses input items (for `GET /v1/responses/{id}/input_items`). */
export function toInputItems(messages: ChatMessage[]): Array<Record<string, unknown>> {
  const items: Array<Record<string, unknown>> = [];
  for (const message of messages) {
    if (message.role === "tool") {
      items.push({ type: "function_call_output", call_id: message.toolCallId, output: message.content });
      continue;
    }
    if (message.content !== "" || message.role !== "assistant") {
      items.push({
        type: "message",
        role: message.role,
        status: "completed",
        content: [
          { type: message.role === "assistant" ? "output_text" : "input_text", text: message.content },
        ],
      });
    }
    if (message.role === "assistant")
      for (const call of message.toolCalls ?? [])
        items.push({
          type: "function_call",
          call_id: call.id,
          name: call.name,
          arguments: call.arguments,
          status: "completed",
        });
  }
  return items;
}

function toolChoiceOf(choice: ResponsesRequest["tool_choice"]): ToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === "string") return choice;
  if (choice.type === "function") return { name: choice.name };
  return "auto";
}

function usageOf(usage: Usage | undefined) {
  const input = usage?.promptTokens ?? 0;
  const output = usage?.completionTokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.cachedPromptTokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 },
    total_tokens: input + output,
  };
}

/**
 * Validates the request, loads the conversation, runs `file_search` and opens the chat, so every
 * error a client can fix is thrown before a byte is streamed; then `events` yields OpenAI's event
 * sequence and returns the final response object (stored when `store` is not false).
 */
export async function prepareResponse(
  wire: ResponsesRequest,
  context: ResponsesContext,
): Promise<PreparedResponse> {
  const tools = wire.tools ?? [];
  const searchTools = tools.filter((tool): tool is FileSearchTool => tool.type === "file_search");
  const functionTools = tools.filter((tool): tool is FunctionTool => tool.type === "function");
  if (searchTools.length > 1)
    throw new BastionError("invalid_request", "Only one 'file_search' tool may be given.", {
      param: "tools",
    });
  const include = new Set(wire.include ?? []);
  for (const entry of include) {
    if (
      entry !== "file_search_call.results" &&
      entry !== "reasoning.encrypted_content" &&
      entry !== "message.output_text.logprobs"
    )
      throw new BastionError("unsupported_parameter", `'include' value '${entry}' is not supported.`, {
        param: "include",
      });
  }

  let history: ChatMessage[] = [];
  if (wire.previous_response_id != null) {
    const previous = await context.responses.get(context.tenantId, wire.previous_response_id);
    history = previous.history;
  }
  const turn = toMessages(wire.input);
  const conversation = [...history, ...turn];
  if (!conversation.some((message) => message.role === "user" || message.role === "tool"))
    throw new BastionError("invalid_request", "'input' must hold at least one user message.", {
      param: "input",
    });

  const searchTool = searchTools[0];
  let hits: SearchHit[] | undefined;
  const query = [...turn].reverse().find((message) => message.role === "user")?.content ?? "";
  if (searchTool !== undefined && wire.tool_choice !== "none" && query.trim() !== "") {
    hits = await context.documents.search(context.tenantId, searchTool.vector_store_ids, {
      query,
      maxNumResults: searchTool.max_num_results ?? 10,
      ...(searchTool.filters == null ? {} : { filters: searchTool.filters }),
      ...(searchTool.ranking_options?.ranker === undefined
        ? {}
        : { ranker: searchTool.ranking_options.ranker }),
      ...(searchTool.ranking_options?.score_threshold === undefined
        ? {}
        : { scoreThreshold: searchTool.ranking_options.score_threshold }),
    });
  }

  const system = [wire.instructions ?? "", hits === undefined ? "" : groundingPrompt(hits)]
    .filter((text) => text.trim() !== "")
    .join("\n\n");
  const format = wire.text?.format;
  const effort = wire.reasoning?.effort;
  const request: ChatRequest = {
    model: wire.model,
    messages: system === "" ? conversation : [{ role: "system", content: system }, ...conversation],
    sampling: {
      ...(wire.temperature == null ? {} : { temperature: wire.temperature }),
      ...(wire.top_p == null ? {} : { topP: wire.top_p }),
    },
    ...(wire.max_output_tokens == null ? {} : { maxTokens: wire.max_output_tokens }),
    ...(functionTools.length === 0
      ? {}
      : {
          tools: functionTools.map((tool) => ({
            name: tool.name,
            ...(tool.description == null ? {} : { description: tool.description }),
            ...(tool.parameters == null ? {} : { parameters: tool.parameters }),
          })),
        }),
    ...(functionTools.length === 0 || toolChoiceOf(wire.tool_choice) === undefined
      ? {}
      : { toolChoice: toolChoiceOf(wire.tool_choice)! }),
    ...(format === undefined || format.type === "text"
      ? {}
      : format.type === "json_object"
        ? { responseFormat: { type: "json_object" as const } }
        : {
            responseFormat: {
              type: "json_schema" as const,
              name: format.name,
              schema: format.schema,
              ...(format.strict == null ? {} : { strict: format.strict }),
            },
          }),
    ...(effort == null ? {} : { reasoningEffort: effort === "minimal" ? "low" : effort }),
  };
  const session = await context.chat.open(request, {
    signal: context.signal,
    requestId: context.requestId,
    endpoint: "/v1/responses",
    ...(context.principal === undefined ? {} : { principal: context.principal }),
    ...(context.declaredDataClass === undefined ? {} : { declaredDataClass: context.declaredDataClass }),
    // A non-stream response leaves only once complete: a backend failing mid-answer may still fall back.
    ...(wire.stream === true ? {} : { buffered: true }),
  });
  return { events: streamEvents(wire, context, session, { searchTool, hits, query, include, conversation }) };
}

async function* streamEvents(
  wire: ResponsesRequest,
  context: ResponsesContext,
  session: ChatSession,
  state: {
    searchTool: FileSearchTool | undefined;
    hits: SearchHit[] | undefined;
    query: string;
    include: Set<string>;
    conversation: ChatMessage[];
  },
): AsyncGenerator<ResponseEvent, Record<string, unknown>> {
  const id = newId("resp");
  const output: Array<Record<string, unknown>> = [];
  const response: Record<string, unknown> = {
    id,
    object: "response",
    created_at: nowSeconds(),
    status: "in_progress",
    error: null,
    incomplete_details: null,
    instructions: wire.instructions ?? null,
    max_output_tokens: wire.max_output_tokens ?? null,
    model: session.model.id,
    output,
    parallel_tool_calls: wire.parallel_tool_calls ?? true,
    previous_response_id: wire.previous_response_id ?? null,
    reasoning: { effort: wire.reasoning?.effort ?? null, summary: null },
    store: wire.store !== false,
    temperature: wire.temperature ?? 1,
    text: { format: wire.text?.format ?? { type: "text" } },
    tool_choice: wire.tool_choice ?? "auto",
    tools: wire.tools ?? [],
    top_p: wire.top_p ?? 1,
    truncation: wire.truncation ?? "disabled",
    usage: null,
    user: wire.user ?? null,
    metadata: wire.metadata ?? {},
  };
  const snapshot = () => structuredClone(response);
  yield { type: "response.created", response: snapshot() };
  yield { type: "response.in_progress", response: snapshot() };

  const sources = (state.hits ?? []).map((hit) => ({
    fileId: hit.fileId,
    filename: hit.filename,
    text: hit.text,
  }));
  if (state.searchTool !== undefined && state.hits !== undefined) {
    const itemId = newId("fs");
    const outputIndex = output.length;
    const item: Record<string, unknown> = {
      id: itemId,
      type: "file_search_call",
      status: "in_progress",
      queries: [state.query],
      results: null,
    };
    output.push(item);
    yield { type: "response.output_item.added", output_index: outputIndex, item: structuredClone(item) };
    yield { type: "response.file_search_call.in_progress", output_index: outputIndex, item_id: itemId };
    yield { type: "response.file_search_call.searching", output_index: outputIndex, item_id: itemId };
    yield { type: "response.file_search_call.completed", output_index: outputIndex, item_id: itemId };
    item.status = "completed";
    if (state.include.has("file_search_call.results")) {
      item.results = state.hits.map((hit) => ({
        file_id: hit.fileId,
        filename: hit.filename,
        score: hit.score,
        text: hit.text,
        attributes: hit.attributes,
      }));
    }
    yield { type: "response.output_item.done", output_index: outputIndex, item: structuredClone(item) };
  }

  let reasoning: { item: Record<string, unknown>; index: number; text: string } | undefined;
  let message:
    | { item: Record<string, unknown>; index: number; text: string; part: Record<string, unknown> }
    | undefined;
  const citations = createCitationFilter(sources);
  const annotations: FileCitation[] = [];
  const toolCalls: Array<{ call_id: string; name: string; arguments: string }> = [];
  const calls = new Map<number, { item: Record<string, unknown>; index: number; streamed: boolean }>();
  let usage: Usage | undefined;
  let finishReason: string | undefined;

  function* closeReasoning(): Generator<ResponseEvent> {
    if (reasoning === undefined) return;
    const { item, index, text } = reasoning;
    yield {
      type: "response.reasoning_text.done",
      item_id: item.id,
      output_index: index,
      content_index: 0,
      text,
    };
    item.content = [{ type: "reasoning_text", text }];
    yield { type: "response.output_item.done", output_index: index, item: structuredClone(item) };
    reasoning = undefined;
  }

  function* openMessage(): Generator<ResponseEvent> {
    if (message !== undefined) return;
    const item: Record<string, unknown> = {
      id: newId("msg"),
      type: "message",
      status: "in_progress",
      role: "assistant",
      content: [],
    };
    const index = output.length;
    output.push(item);
    const part = { type: "output_text", text: "", annotations: [], logprobs: [] };
    message = { item, index, text: "", part };
    yield { type: "response.output_item.added", output_index: index, item: structuredClone(item) };
    yield {
      type: "response.content_part.added",
      item_id: item.id,
      output_index: index,
      content_index: 0,
      part: structuredClone(part),
    };
  }

  function* emitText(result: { text: string; annotations: FileCitation[] }): Generator<ResponseEvent> {
    if (result.text === "" && result.annotations.length === 0) return;
    yield* openMessage();
    const current = message!;
    if (result.text !== "") {
      current.text += result.text;
      yield {
        type: "response.output_text.delta",
        item_id: current.item.id,
        output_index: current.index,
        content_index: 0,
        delta: result.text,
        logprobs: [],
      };
    }
    for (const annotation of result.annotations) {
      annotations.push(annotation);
      yield {
        type: "response.output_text.annotation.added",
        item_id: current.item.id,
        output_index: current.index,
        content_index: 0,
        annotation_index: annotations.length - 1,
        annotation,
      };
    }
  }

  try {
    for await (const part of session.parts as AsyncIterable<ChatStreamPart>) {
      if (part.type === "reasoning-delta") {
        if (reasoning === undefined) {
          const item: Record<string, unknown> = {
            id: newId("rs"),
            type: "reasoning",
            summary: [],
            content: [],
          };
          reasoning = { item, index: output.length, text: "" };
          output.push(item);
          yield {
            type: "response.output_item.added",
            output_index: reasoning.index,
            item: structuredClone(item),
          };
        }
        reasoning.text += part.text;
        yield {
          type: "response.reasoning_text.delta",
          item_id: reasoning.item.id,
          output_index: reasoning.index,
          content_index: 0,
          delta: part.text,
        };
      } else if (part.type === "text-delta") {
        yield* closeReasoning();
        yield* emitText(citations.push(part.text));
      } else if (part.type === "tool-call-delta" || part.type === "tool-call") {
        yield* closeReasoning();
        let open = calls.get(part.index);
        if (open === undefined) {
          const id = part.type === "tool-call" ? part.call.id : part.id;
          const name = part.type === "tool-call" ? part.call.name : part.name;
          const item: Record<string, unknown> = {
            id: newId("fc"),
            type: "function_call",
            status: "in_progress",
            call_id: id,
            name,
            arguments: "",
          };
          open = { item, index: output.length, streamed: false };
          calls.set(part.index, open);
          output.push(item);
          yield { type: "response.output_item.added", output_index: open.index, item: structuredClone(item) };
        }
        const { item, index } = open;
        if (part.type === "tool-call-delta") {
          open.streamed = true;
          if (part.argumentsDelta !== "")
            yield {
              type: "response.function_call_arguments.delta",
              item_id: item.id,
              output_index: index,
              delta: part.argumentsDelta,
            };
          continue;
        }
        // The whole call: its arguments are the deltas joined (sent at once if none streamed).
        if (!open.streamed && part.call.arguments !== "")
          yield {
            type: "response.function_call_arguments.delta",
            item_id: item.id,
            output_index: index,
            delta: part.call.arguments,
          };
        yield {
          type: "response.function_call_arguments.done",
          item_id: item.id,
          output_index: index,
          name: part.call.name,
          arguments: part.call.arguments,
        };
        item.arguments = part.call.arguments;
        item.status = "completed";
        toolCalls.push({ call_id: part.call.id, name: part.call.name, arguments: part.call.arguments });
        yield { type: "response.output_item.done", output_index: index, item: structuredClone(item) };
      } else if (part.type === "finish") {
        usage = part.usage;
        finishReason = part.finishReason;
      }
    }
    yield* closeReasoning();
    yield* emitText(citations.flush());
    if (message !== undefined && annotations.length === 0 && sources.length > 0) {
      // The model cited nothing explicitly: attribute sentences that restate a passage.
      yield* emitText({ text: "", annotations: attributeSentences(message.text, sources) });
    }
  } catch (error) {
    const failure =
      error instanceof BastionError
        ? { code: error.code, message: error.message }
        : { code: "server_error", message: "The model failed while answering." };
    response.status = "failed";
    response.error = failure;
    yield { type: "error", code: failure.code, message: failure.message, param: null };
    yield { type: "response.failed", response: snapshot() };
    return snapshot();
  }

  if (message !== undefined) {
    const current = message;
    current.part.text = current.text;
    current.part.annotations = annotations;
    yield {
      type: "response.output_text.done",
      item_id: current.item.id,
      output_index: current.index,
      content_index: 0,
      text: current.text,
      logprobs: [],
    };
    yield {
      type: "response.content_part.done",
      item_id: current.item.id,
      output_index: current.index,
      content_index: 0,
      part: structuredClone(current.part),
    };
    // As OpenAI does: a message cut short by max_output_tokens is an incomplete item.
    current.item.status = finishReason === "length" ? "incomplete" : "completed";
    current.item.content = [current.part];
    yield {
      type: "response.output_item.done",
      output_index: current.index,
      item: structuredClone(current.item),
    };
  }
  const incomplete = finishReason === "length";
  response.status = incomplete ? "incomplete" : "completed";
  response.incomplete_details = incomplete ? { reason: "max_output_tokens" } : null;
  response.usage = usageOf(usage);
  const evidence = session.evidence();
  response.bastion = toWireEvidence(evidence);
  const final = snapshot();
  if (wire.store !== false) {
    const answer: ChatMessage = {
      role: "assistant",
      content: message?.text ?? "",
      ...(toolCalls.length === 0
        ? {}
        : {
            toolCalls: toolCalls.map((call) => ({
              id: call.call_id,
              name: call.name,
              arguments: call.arguments,
            })),
          }),
    };
    await context.responses.save(context.tenantId, id, final, [...state.conversation, answer]);
  }
  yield { type: incomplete ? "response.incomplete" : "response.completed", response: final };
  return final;
}
