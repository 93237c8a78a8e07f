import { stat } from "node:fs/promises";
import { GgufInsights, type Llama, readGgufFileInfo } from "node-llama-cpp";

export interface RamEstimateInput {
  path: string;
  /** Tokens per sequence. */
  contextSize: number;
  parallel: number;
  batchSize?: number;
}

export interface RamEstimate {
  weightsBytes: number;
  contextBytes: number;
  totalBytes: number;
}

/**
 * The one RAM estimator: the model's weights plus one context holding `parallel` sequences of
 * `contextSize` tokens each (KV cache and compute buffers), as llama.cpp on the CPU will allocate.
 * node-llama-cpp's estimate multiplies by the sequence count itself, so the size passed is the
 * per-sequence one (passing the total counted the KV cache twice).
 */
export async function estimateModelRam(llama: Llama, input: RamEstimateInput): Promise<RamEstimate> {
  const fileInfo = await readGgufFileInfo(input.path, { logWarnings: false });
  const insights = await GgufInsights.from(fileInfo, llama);
  const contextSize = Math.min(input.contextSize, insights.trainContextSize ?? input.contextSize);
  const contextBytes = insights.estimateContextResourceRequirements({
    contextSize,
    sequences: input.parallel,
    modelGpuLayers: 0,
    ...(input.batchSize === undefined ? {} : { batchSize: input.batchSize }),
  }).cpuRam;
  const weightsBytes = (await stat(input.path)).size;
  return { weightsBytes, contextBytes, totalBytes: weightsBytes + contextBytes };
}

/** RAM of a model's embedding context of `contextSize` tokens (one sequence). */
export function estimateEmbeddingContextBytes(insights: GgufInsights, contextSize: number): number {
  return insights.estimateContextResourceRequirements({
    contextSize,
    sequences: 1,
    modelGpuLayers: 0,
    isEmbeddingContext: true,
  }).cpuRam;
}
