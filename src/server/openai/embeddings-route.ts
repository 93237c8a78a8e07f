import type { Context } from "hono";
import { BastionError } from "../../core/errors.ts";
import { embedMetered } from "../metered-embedding.ts";
import { readJsonBody } from "../read-json-body.ts";
import { clip, resolveBackend } from "../resolve-backend.ts";
import type { ServerDependencies, ServerEnv } from "../server-env.ts";
import { embeddingInputs, embeddingsRequestSchema } from "./embeddings-schema.ts";

/** OpenAI's base64 encoding: the float32 values as little-endian bytes. */
export function encodeEmbeddingBase64(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (const [index, value] of vector.entries()) view.setFloat32(index * 4, value, true);
  return Buffer.from(bytes).toString("base64");
}

function dimensionsError(dimensions: number): BastionError {
  return new BastionError(
    "unsupported_parameter",
    `This model's embeddings have ${dimensions} dimensions; omit 'dimensions' or set it to ${dimensions} (shortening is not supported).`,
    { param: "dimensions" },
  );
}

export function createEmbeddingsHandler(deps: ServerDependencies) {
  return async (c: Context<ServerEnv>): Promise<Response> => {
    const wire = embeddingsRequestSchema.parse(await readJsonBody(c));
    const backend = await resolveBackend(deps.registry, wire.model);
    if (backend.embed === undefined) {
      throw new BastionError(
        "unsupported_parameter",
        `The model '${clip(wire.model)}' does not support embeddings.`,
        {
          param: "model",
        },
      );
    }
    // Checked before any work: loading a model and embedding every input to refuse afterwards
    // would waste seconds of CPU on a request that cannot succeed.
    const known = backend.describe().embeddingDimensions;
    if (wire.dimensions != null && known !== undefined && wire.dimensions !== known) {
      throw dimensionsError(known);
    }
    // Budgets, usage row and audit record, as for a chat (see embedMetered).
    const result = await embedMetered(c, deps.embeddings, {
      backend,
      requestedModel: wire.model,
      inputs: embeddingInputs(wire),
    });
    const dimensions = result.vectors[0]?.length;
    if (wire.dimensions != null && dimensions !== undefined && wire.dimensions !== dimensions) {
      throw dimensionsError(dimensions);
    }
    const base64 = wire.encoding_format === "base64";
    return c.json({
      object: "list",
      data: result.vectors.map((vector, index) => ({
        object: "embedding",
        index,
        embedding: base64 ? encodeEmbeddingBase64(vector) : Array.from(vector),
      })),
      model: backend.describe().id,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    });
  };
}
