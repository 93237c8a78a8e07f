import { createHash } from "node:crypto";
import type { Context } from "hono";
import type { ModelDescriptor } from "../../core/backend.ts";
import { readJsonBody } from "../read-json-body.ts";
import { resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { ollamaModelName } from "./ollama-chat-route.ts";
import { ollamaShowRequestSchema } from "./ollama-schema.ts";

/*
 * `/api/tags`, `/api/ps`, `/api/show` and `/api/version`: the model descriptors every dialect
 * shares, in Ollama's shape. Clients read `details` for display and `capabilities` to decide
 * whether to offer tools and thinking.
 */

/**
 * The Ollama API level whose behaviour these routes follow (`thinking`, streamed tool calls,
 * `/api/embed`). Clients compare `/api/version` against Ollama releases to enable features, so
 * this is what they are told; Bastion's own version comes with it as `bastion_version`.
 */
export const ollamaApiVersion = "0.12.0";

export interface OllamaModelDetails {
  parent_model: string;
  format: "gguf";
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

export interface OllamaModelEntry {
  name: string;
  model: string;
  modified_at: string;
  size: number;
  digest: string;
  details: OllamaModelDetails;
}

/** `1543714304` -> `1.5B`, `494032768` -> `494M`, as Ollama shows parameter counts. */
export function formatParameterCount(count: number | undefined): string {
  if (count === undefined || count <= 0) return "";
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${Math.round(count / 1e6)}M`;
  return `${Math.round(count / 1e3)}K`;
}

function toDetails(descriptor: ModelDescriptor): OllamaModelDetails {
  const family = descriptor.architecture ?? "";
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: family === "" ? [] : [family],
    parameter_size: formatParameterCount(descriptor.parameterCount),
    quantization_level: descriptor.quantization ?? "",
  };
}

/**
 * Ollama's digest is the hash of its manifest, which Bastion does not have. This one identifies the
 * same thing (this model file as served) and changes when the file is replaced, without hashing
 * gigabytes per listing.
 */
function digestOf(descriptor: ModelDescriptor): string {
  return createHash("sha256")
    .update(`${descriptor.id}\0${descriptor.sizeBytes ?? 0}\0${descriptor.created}`)
    .digest("hex");
}

export function toOllamaModelEntry(descriptor: ModelDescriptor): OllamaModelEntry {
  return {
    name: descriptor.id,
    model: descriptor.id,
    modified_at: new Date(descriptor.created * 1000).toISOString(),
    size: descriptor.sizeBytes ?? 0,
    digest: digestOf(descriptor),
    details: toDetails(descriptor),
  };
}

/** Ollama's capability names: `completion`, `tools`, `thinking`, `embedding`. */
export function toOllamaCapabilities(descriptor: ModelDescriptor): string[] {
  const { capabilities } = descriptor;
  const names: string[] = [];
  if (capabilities.chat) names.push("completion");
  if (capabilities.tools) names.push("tools");
  if (capabilities.reasoning) names.push("thinking");
  if (capabilities.embeddings) names.push("embedding");
  return names;
}

export function createOllamaTagsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const descriptors = await deps.registry.list();
    return c.json({ models: descriptors.map(toOllamaModelEntry) });
  };
}

/** `/api/ps`: the models in memory now, with the context each sequence holds. */
export function createOllamaPsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const descriptors = await deps.registry.list();
    return c.json({
      models: descriptors
        .filter((descriptor) => descriptor.loaded)
        .map((descriptor) => ({
          ...toOllamaModelEntry(descriptor),
          ...(descriptor.contextLength === undefined ? {} : { context_length: descriptor.contextLength }),
        })),
    });
  };
}

export function createOllamaShowHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = ollamaShowRequestSchema.parse(await readJsonBody(c));
    const name = ollamaModelName(deps.registry, (wire.model ?? wire.name)!);
    const descriptor = (await resolveBackend(deps.registry, name)).describe();
    const architecture = descriptor.architecture ?? "unknown";
    const modelInfo: Record<string, string | number> = { "general.architecture": architecture };
    if (descriptor.parameterCount !== undefined)
      modelInfo["general.parameter_count"] = descriptor.parameterCount;
    const trained = descriptor.trainedContextLength ?? descriptor.contextLength;
    if (trained !== undefined) modelInfo[`${architecture}.context_length`] = trained;
    // `num_ctx` is what a request can use here: the context Bastion gives each sequence.
    const parameters = descriptor.contextLength === undefined ? "" : `num_ctx ${descriptor.contextLength}`;
    return c.json({
      license: descriptor.provenance?.licence?.id ?? "",
      modelfile: [
        `# Served by Bastion`,
        `FROM ${descriptor.id}`,
        parameters === "" ? "" : `PARAMETER ${parameters}`,
      ]
        .filter((line) => line !== "")
        .join("\n"),
      parameters,
      // Bastion renders prompts with the model's own chat template; Ollama's Go template has no equivalent.
      template: "",
      details: toDetails(descriptor),
      model_info: modelInfo,
      capabilities: toOllamaCapabilities(descriptor),
      modified_at: new Date(descriptor.created * 1000).toISOString(),
    });
  };
}

export function createOllamaVersionHandler(deps: ServerDependencies) {
  return (c: Context<ServerEnv>): Response =>
    c.json({ version: ollamaApiVersion, bastion_version: deps.version });
}
