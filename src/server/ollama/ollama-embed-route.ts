import type { Context } from "hono";
import type { EmbeddingResult } from "../../core/backend.ts";
import { BastionError } from "../../core/errors.ts";
import { embedMetered } from "../metered-embedding.ts";
import { readJsonBody } from "../read-json-body.ts";
import { clip, resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { ollamaModelName } from "./ollama-chat-route.ts";
import { ollamaEmbeddingsRequestSchema, ollamaEmbedRequestSchema } from "./ollama-schema.ts";

/** Scales a vector to unit length, as Ollama's `/api/embed` returns them (zero stays zero). */
export function normalise(vector: Float32Array): number[] {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  return Array.from(vector, (value) => (norm === 0 ? 0 : value / norm));
}

async function embed(
  c: Context<ServerEnv>,
  deps: ServerDependencies,
  model: string,
  inputs: string[],
): Promise<{ id: string; result: EmbeddingResult }> {
  const backend = await resolveBackend(deps.registry, ollamaModelName(deps.registry, model));
  if (backend.embed === undefined) {
    throw new BastionError(
      "unsupported_parameter",
      `The model '${clip(model)}' does not support embeddings.`,
      {
        param: "model",
      },
    );
  }
  // Budgets, usage row and audit record, as for /v1/embeddings.
  const result = await embedMetered(c, deps.embeddings, { backend, requestedModel: model, inputs });
  return { id: backend.describe().id, result };
}

/**
 * `POST /api/embed`: unit-length vectors, one per input. `dimensions` keeps the first n values and
 * normalises again (how Ollama shortens Matryoshka embeddings); more than the model has is a 400.
 */
export function createOllamaEmbedHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const startedAt = performance.now();
    const wire = ollamaEmbedRequestSchema.parse(await readJsonBody(c));
    const inputs = (typeof wire.input === "string" ? [wire.input] : wire.input).map((input) =>
      input.toWellFormed(),
    );
    const { id, result } = await embed(c, deps, wire.model, inputs);
    const size = result.vectors[0]?.length ?? 0;
    if (wire.dimensions != null && wire.dimensions > size) {
      throw new BastionError(
        "invalid_request",
        `This model's embeddings have ${size} dimensions; 'dimensions' must be at most ${size}.`,
        { param: "dimensions" },
      );
    }
    const keep = wire.dimensions ?? size;
    const totalNs = Math.round((performance.now() - startedAt) * 1_000_000);
    return c.json({
      model: id,
      embeddings: result.vectors.map((vector) => normalise(vector.subarray(0, keep))),
      // A first request's model load is inside total_duration: the backend does not report it apart.
      total_duration: totalNs,
      prompt_eval_count: result.promptTokens,
    });
  };
}

/** `POST /api/embeddings`, the legacy form: one prompt, one vector, as the model computed it. */
export function createOllamaEmbeddingsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = ollamaEmbeddingsRequestSchema.parse(await readJsonBody(c));
    const { result } = await embed(c, deps, wire.model, [wire.prompt.toWellFormed()]);
    return c.json({ embedding: Array.from(result.vectors[0] ?? []) });
  };
}
