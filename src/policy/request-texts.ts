import type { ChatMessage, ChatRequest, JsonSchema, ResponseFormat, ToolDefinition } from "../core/chat.ts";

/** One text a request carries, named by its path as the client wrote it. */
export interface RequestText {
  path: string;
  text: string;
  /**
   * False for a field where a placeholder would change what the request means: a tool's or a
   * schema's name, an object key (a property name), a `pattern`, a `$ref`, a `required` entry. A
   * detection there cannot be pseudonymised, only kept local or denied.
   */
  maskable: boolean;
}

/** Rewrites one text; `maskable` as in `RequestText`. */
export type RewriteText = (text: string, path: string, maskable: boolean) => string;

/**
 * Schema keywords whose string values are machine-read, not prose: a placeholder in them would
 * change the schema (a regular expression, a reference, a type or format name, a required
 * property's name). Their values are scanned but never rewritten.
 */
const fixedKeywords = new Set([
  "pattern",
  "$ref",
  "$id",
  "$schema",
  "$anchor",
  "$dynamicRef",
  "$dynamicAnchor",
  "format",
  "type",
  "required",
  "dependentRequired",
  "contentEncoding",
  "contentMediaType",
]);

const plainKey = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `parent.key`, or `parent["a key"]` when the key is not an identifier. */
function childPath(parent: string, key: string): string {
  return plainKey.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/** The path under which an object key itself is scanned (as opposed to the value it names). */
export function keyPath(path: string): string {
  return `${path} (name)`;
}

/**
 * A copy of a JSON value (a schema, or instance data inside one) with every string and every object
 * key passed through `rewrite`. `keyword` is the schema keyword the value sits under: values under
 * `fixedKeywords`, and keys everywhere, are not maskable.
 */
function mapJson(value: unknown, path: string, keyword: string, rewrite: RewriteText): unknown {
  if (typeof value === "string") return rewrite(value, path, !fixedKeywords.has(keyword));
  if (Array.isArray(value))
    return value.map((item, index) => mapJson(item, `${path}[${index}]`, keyword, rewrite));
  if (value === null || typeof value !== "object") return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const path2 = childPath(path, key);
    const name = rewrite(key, keyPath(path2), false);
    copy[name] = mapJson(inner, path2, key, rewrite);
  }
  return copy;
}

function mapTool(tool: ToolDefinition, index: number, rewrite: RewriteText): ToolDefinition {
  const path = `tools[${index}].function`;
  const copy: ToolDefinition = { ...tool, name: rewrite(tool.name, `${path}.name`, false) };
  if (tool.description !== undefined)
    copy.description = rewrite(tool.description, `${path}.description`, true);
  if (tool.parameters !== undefined)
    copy.parameters = mapJson(tool.parameters, `${path}.parameters`, "", rewrite) as JsonSchema;
  return copy;
}

function mapResponseFormat(format: ResponseFormat, rewrite: RewriteText): ResponseFormat {
  if (format.type !== "json_schema") return format;
  const path = "response_format.json_schema";
  return {
    ...format,
    name: rewrite(format.name, `${path}.name`, false),
    schema: mapJson(format.schema, `${path}.schema`, "", rewrite) as JsonSchema,
  };
}

/**
 * Every text of a request that a backend would see: message contents (system, user, assistant,
 * tool results), reasoning echoed back by the client, assistant tool-call arguments, tool
 * definitions (name, description, every string and key of the parameters schema) and a
 * `response_format` JSON schema.
 */
export function requestTexts(request: ChatRequest): RequestText[] {
  const texts: RequestText[] = [];
  const collect: RewriteText = (text, path, maskable) => {
    texts.push({ path, text, maskable });
    return text;
  };
  request.messages.forEach((message, index) => {
    texts.push({ path: `messages[${index}].content`, text: message.content, maskable: true });
    if (message.role === "assistant") {
      if (message.reasoning !== undefined)
        texts.push({ path: `messages[${index}].reasoning`, text: message.reasoning, maskable: true });
      message.toolCalls?.forEach((call, callIndex) => {
        texts.push({
          path: `messages[${index}].tool_calls[${callIndex}].arguments`,
          text: call.arguments,
          maskable: true,
        });
      });
    }
  });
  request.tools?.forEach((tool, index) => {
    mapTool(tool, index, collect);
  });
  if (request.responseFormat !== undefined) mapResponseFormat(request.responseFormat, collect);
  return texts;
}

/** A copy of the request with each text passed through `rewrite(text, path, maskable)`. */
export function mapRequestTexts(request: ChatRequest, rewrite: RewriteText): ChatRequest {
  const messages = request.messages.map((message, index): ChatMessage => {
    const content = rewrite(message.content, `messages[${index}].content`, true);
    if (message.role !== "assistant") return { ...message, content };
    const copy: ChatMessage = { ...message, content };
    if (message.reasoning !== undefined)
      copy.reasoning = rewrite(message.reasoning, `messages[${index}].reasoning`, true);
    if (message.toolCalls !== undefined)
      copy.toolCalls = message.toolCalls.map((call, callIndex) => ({
        ...call,
        arguments: rewrite(call.arguments, `messages[${index}].tool_calls[${callIndex}].arguments`, true),
      }));
    return copy;
  });
  const copy: ChatRequest = { ...request, messages };
  if (request.tools !== undefined)
    copy.tools = request.tools.map((tool, index) => mapTool(tool, index, rewrite));
  if (request.responseFormat !== undefined)
    copy.responseFormat = mapResponseFormat(request.responseFormat, rewrite);
  return copy;
}
