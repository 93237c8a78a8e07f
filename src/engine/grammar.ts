import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { JsonSchema, ResponseFormat, ToolDefinition } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";

type Schema = Record<string, unknown>;

const keptKeys = new Set([
  "type",
  "properties",
  "required",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "enum",
  "const",
  "oneOf",
  "additionalProperties",
  "minProperties",
  "maxProperties",
  "minLength",
  "maxLength",
  "format",
  "description",
  "$ref",
  "$defs",
]);

const maxDepth = 32;

/**
 * Rewrites a client's JSON Schema into the subset node-llama-cpp turns into a grammar:
 * `anyOf` becomes `oneOf`, `definitions` becomes `$defs`, nullable type arrays become `oneOf`,
 * and keywords a grammar cannot enforce (patterns, numeric bounds, titles) are dropped.
 */
export function toGrammarSchema(schema: unknown, path = "schema", depth = 0): Schema {
  if (depth > maxDepth) {
    throw new BastionError("invalid_request", `${path} nests deeper than ${maxDepth} levels.`, {
      param: path,
    });
  }
  if (schema === true || schema === undefined) return {};
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new BastionError("invalid_request", `${path} must be a JSON Schema object.`, { param: path });
  }
  const source = schema as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === "anyOf" || key === "oneOf" || key === "allOf") {
      if (!Array.isArray(value) || value.length === 0) {
        throw new BastionError("invalid_request", `${path}.${key} must be a non-empty array.`, {
          param: `${path}.${key}`,
        });
      }
      if (key === "allOf") {
        if (value.length !== 1) {
          throw new BastionError("invalid_request", `${path}.allOf with several schemas is not supported.`, {
            param: `${path}.allOf`,
          });
        }
        Object.assign(out, toGrammarSchema(value[0], `${path}.allOf[0]`, depth + 1));
        continue;
      }
      out.oneOf = value.map((item, index) => toGrammarSchema(item, `${path}.${key}[${index}]`, depth + 1));
    } else if (key === "properties" || key === "$defs" || key === "definitions") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new BastionError("invalid_request", `${path}.${key} must be an object.`, {
          param: `${path}.${key}`,
        });
      }
      const mapped: Schema = {};
      for (const [name, sub] of Object.entries(value as Schema)) {
        mapped[name] = toGrammarSchema(sub, `${path}.${key}.${name}`, depth + 1);
      }
      out[key === "definitions" ? "$defs" : key] = mapped;
    } else if (key === "items" || key === "additionalProperties") {
      out[key] = typeof value === "boolean" ? value : toGrammarSchema(value, `${path}.${key}`, depth + 1);
    } else if (key === "prefixItems") {
      if (!Array.isArray(value)) {
        throw new BastionError("invalid_request", `${path}.prefixItems must be an array.`, {
          param: `${path}.prefixItems`,
        });
      }
      out.prefixItems = value.map((item, index) =>
        toGrammarSchema(item, `${path}.prefixItems[${index}]`, depth + 1),
      );
    } else if (key === "$ref" && typeof value === "string") {
      out.$ref = value.replace("#/definitions/", "#/$defs/");
    } else if (key === "type" && Array.isArray(value)) {
      out.type = value;
    } else if (keptKeys.has(key)) {
      out[key] = value;
    }
  }
  if (out.type === "object" && out.properties === undefined && out.additionalProperties === undefined) {
    // An object with no declared shape: any JSON object.
    out.additionalProperties = true;
  }
  return out;
}

export interface GrammarFactory {
  forResponseFormat(format: ResponseFormat): Promise<LlamaGrammar | undefined>;
  /** A grammar for one forced tool call: `{"name": ..., "arguments": {...}}`. */
  forToolCall(tools: readonly ToolDefinition[]): Promise<LlamaGrammar>;
}

/** Builds grammars and keeps the last few, since clients repeat the same schema request after request. */
export function createGrammarFactory(llama: Llama, capacity = 64): GrammarFactory {
  const cache = new Map<string, Promise<LlamaGrammar>>();

  function cached(key: string, build: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const created = build().catch((error: unknown) => {
      cache.delete(key);
      throw error instanceof BastionError
        ? error
        : new BastionError(
            "invalid_request",
            `The JSON schema cannot be enforced: ${(error as Error).message}`,
            {
              param: "response_format",
            },
          );
    });
    cache.set(key, created);
    if (cache.size > capacity) cache.delete(cache.keys().next().value as string);
    return created;
  }

  function schemaGrammar(schema: JsonSchema, path: string): Promise<LlamaGrammar> {
    const converted = toGrammarSchema(schema, path);
    return cached(`schema:${JSON.stringify(converted)}`, () =>
      // biome-ignore lint/suspicious/noExplicitAny: the converted schema is checked by node-llama-cpp at run time
      llama.createGrammarForJsonSchema(converted as any),
    );
  }

  return {
    async forResponseFormat(format) {
      if (format.type === "text") return undefined;
      if (format.type === "json_object") return cached("json", () => llama.getGrammarFor("json"));
      return schemaGrammar(format.schema, "response_format.json_schema.schema");
    },
    forToolCall(tools) {
      const variants = tools.map((tool) => ({
        type: "object",
        properties: {
          name: { const: tool.name },
          arguments: tool.parameters ?? { type: "object", additionalProperties: true },
        },
        required: ["name", "arguments"],
      }));
      const schema = variants.length === 1 ? variants[0]! : { oneOf: variants };
      return schemaGrammar(schema, "tools");
    },
  };
}
