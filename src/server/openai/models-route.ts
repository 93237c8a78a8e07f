import type { Context } from "hono";
import type { ModelDescriptor } from "../../core/backend.ts";
import { BastionError } from "../../core/errors.ts";
import { resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";

/** One entry of `/v1/models`: OpenAI's four fields, then Bastion's metadata in snake_case. */
export interface WireModel {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  aliases: string[];
  loaded: boolean;
  capabilities: {
    chat: boolean;
    reasoning: boolean;
    tools: boolean;
    json_schema: boolean;
    embeddings: boolean;
  };
  context_length?: number;
  trained_context_length?: number;
  architecture?: string;
  parameter_count?: number;
  quantization?: string;
  size_bytes?: number;
  chat_template?: string;
  synthetic?: boolean;
  warning?: string;
  licence?: { id: string; url?: string };
  publisher?: { name: string; country?: string };
  source?: string;
}

/** The descriptor as the API shows it; the file path stays private (it says nothing a client needs). */
export function toWireModel(descriptor: ModelDescriptor): WireModel {
  const model: WireModel = {
    id: descriptor.id,
    object: "model",
    created: descriptor.created,
    owned_by: descriptor.ownedBy,
    aliases: descriptor.aliases,
    loaded: descriptor.loaded,
    capabilities: {
      chat: descriptor.capabilities.chat,
      reasoning: descriptor.capabilities.reasoning,
      tools: descriptor.capabilities.tools,
      json_schema: descriptor.capabilities.jsonSchema,
      embeddings: descriptor.capabilities.embeddings,
    },
  };
  if (descriptor.contextLength !== undefined) model.context_length = descriptor.contextLength;
  if (descriptor.trainedContextLength !== undefined)
    model.trained_context_length = descriptor.trainedContextLength;
  if (descriptor.architecture !== undefined) model.architecture = descriptor.architecture;
  if (descriptor.parameterCount !== undefined) model.parameter_count = descriptor.parameterCount;
  if (descriptor.quantization !== undefined) model.quantization = descriptor.quantization;
  if (descriptor.sizeBytes !== undefined) model.size_bytes = descriptor.sizeBytes;
  if (descriptor.chatTemplate !== undefined) model.chat_template = descriptor.chatTemplate;
  if (descriptor.synthetic !== undefined) model.synthetic = descriptor.synthetic;
  if (descriptor.warning !== undefined) model.warning = descriptor.warning;
  const provenance = descriptor.provenance;
  if (provenance?.licence !== undefined) model.licence = provenance.licence;
  if (provenance?.publisher !== undefined) model.publisher = provenance.publisher;
  if (provenance?.source !== undefined) model.source = provenance.source;
  return model;
}

export function createListModelsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const descriptors = await deps.registry.list();
    return c.json({ object: "list", data: descriptors.map(toWireModel) });
  };
}

const modelsPrefix = "/v1/models/";

/**
 * `GET /v1/models/{id}`: ids may hold `/` or `:` (`org/model:q8_0`), so the route is a wildcard and
 * the id is everything after the prefix, percent-decoded (SDKs encode `/` as `%2F`).
 */
export function createRetrieveModelHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const path = new URL(c.req.url).pathname;
    const raw = path.startsWith(modelsPrefix) ? path.slice(modelsPrefix.length) : "";
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      throw new BastionError("invalid_request", "The model id in the path is not valid percent-encoding.", {
        param: "model",
      });
    }
    const backend = await resolveBackend(deps.registry, id);
    return c.json(toWireModel(backend.describe()));
  };
}
