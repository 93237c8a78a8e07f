import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { GgmlType, type GgufFileInfo, type GgufInsights, readGgufFileInfo } from "node-llama-cpp";

export interface RamEstimateInput {
  path: string;
  /** Tokens per sequence. */
  contextSize: number;
  parallel: number;
  batchSize?: number;
}

export interface RamEstimate {
  /** The file's weights, plus the copies llama.cpp's CPU backend repacks for faster matmuls. */
  weightsBytes: number;
  /** llama.cpp's vocabulary tables and node-llama-cpp's copy of the token list. */
  vocabularyBytes: number;
  /** KV cache of every sequence. */
  kvCacheBytes: number;
  /** Activations of one batch, attention scores over a full context, and the logits. */
  computeBytes: number;
  totalBytes: number;
}

/*
 * Constants measured on this project's synthetic presets (README, "Memory"): resident memory after
 * loading, creating the context and evaluating a long prompt, read from /proc/self/status.
 */
/** Bytes per vocabulary token: ~205 MiB for the 151,936-token Qwen vocabulary. */
const vocabularyBytesPerToken = 1_400;
/** Fixed part of the compute buffers and allocator overhead. */
const computeOverheadBytes = 8 * 1024 * 1024;
/**
 * Types the CPU backend copies into a repacked layout at load (the mapped file stays resident too).
 * Which ones depends on the CPU, as in llama.cpp's `ggml_repack_get_optimal_repack_type` and its AMX
 * buffer (ggml-cpu/repack.cpp, ggml-cpu/amx): on x86, AVX2 repacks Q4_0, Q4_K, IQ4_NL and MXFP4
 * (AVX-512 also Q2_K), and AMX takes Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K and IQ4_XS; on ARM, NEON
 * with dot products repacks Q4_0, Q4_K, IQ4_NL, Q8_0 and MXFP4. Measured: a Q8_0 0.5B holds 0.77 GB
 * on an AVX2 machine without AMX, where counting a Q8_0 copy estimated 1.34 GB.
 */
export function repackedTypesFor(arch: string, cpuFlags: ReadonlySet<string>): Set<GgmlType> {
  const types = new Set<GgmlType>();
  if (arch === "x64") {
    if (cpuFlags.has("avx2")) {
      for (const type of [GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.IQ4_NL, GgmlType.MXFP4]) types.add(type);
    }
    if (cpuFlags.has("avx512f")) types.add(GgmlType.Q2_K);
    if (cpuFlags.has("amx_int8")) {
      for (const type of [
        GgmlType.Q4_0,
        GgmlType.Q4_1,
        GgmlType.Q8_0,
        GgmlType.Q4_K,
        GgmlType.Q5_K,
        GgmlType.Q6_K,
        GgmlType.IQ4_XS,
      ])
        types.add(type);
    }
  } else if (arch === "arm64") {
    for (const type of [GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.IQ4_NL, GgmlType.Q8_0, GgmlType.MXFP4])
      types.add(type);
  }
  return types;
}

/** This machine's CPU flags (Linux `/proc/cpuinfo`; empty elsewhere, which counts no repacking on x86). */
function cpuFlags(): Set<string> {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const line = /^(?:flags|Features)\s*:(.*)$/m.exec(info)?.[1] ?? "";
    return new Set(line.trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

const repackedTypes = repackedTypesFor(process.arch, cpuFlags());

/**
 * The one RAM estimator: weights (and their repacked copies), the vocabulary tables, the KV cache
 * of `parallel` sequences of `contextSize` tokens each, and the compute buffers of one batch. The
 * context is counted once for all sequences; node-llama-cpp's own estimate also reserves logits for
 * a whole batch, which llama.cpp allocates but never touches (one output row per sequence).
 */
export async function estimateModelRam(input: RamEstimateInput): Promise<RamEstimate> {
  const fileInfo = await readGgufFileInfo(input.path, { logWarnings: false, readTensorInfo: true });
  const fileBytes = (await stat(input.path)).size;
  return estimateFromGguf(fileInfo, fileBytes, input);
}

/** The estimate from an already-read GGUF header (with its tensor table). */
export function estimateFromGguf(
  fileInfo: GgufFileInfo,
  fileBytes: number,
  input: RamEstimateInput,
): RamEstimate {
  const shape = modelShape(fileInfo);
  const contextSize = Math.min(input.contextSize, shape.trainContextSize ?? input.contextSize);
  const paddedContext = Math.ceil(contextSize / 256) * 256;
  const batch = Math.min(input.batchSize ?? 512, paddedContext * input.parallel);
  const weightsBytes = fileBytes + repackedBytes(fileInfo, fileBytes);
  const vocabularyBytes = shape.vocabularySize * vocabularyBytesPerToken;
  // f16 keys and values for every layer, head and position of every sequence.
  const kvCacheBytes = shape.layers * 2 * shape.kvWidth * 2 * paddedContext * input.parallel;
  const computeBytes =
    4 * batch * (3 * shape.feedForward + 4 * shape.hidden + shape.heads * paddedContext) +
    4 * shape.vocabularySize * input.parallel +
    computeOverheadBytes;
  return {
    weightsBytes,
    vocabularyBytes,
    kvCacheBytes,
    computeBytes,
    totalBytes: weightsBytes + vocabularyBytes + kvCacheBytes + computeBytes,
  };
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

function modelShape(fileInfo: GgufFileInfo) {
  const metadata = fileInfo.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const architecture = String(metadata.general?.architecture ?? "");
  const arch = (metadata[architecture] ?? {}) as Record<string, unknown>;
  const attention = (arch.attention ?? {}) as Record<string, unknown>;
  const number = (value: unknown, fallback: number) => (typeof value === "number" ? value : fallback);
  const hidden = number(arch.embedding_length, 0);
  const heads = number(attention.head_count, 1);
  const kvHeads = number(attention.head_count_kv, heads);
  const headDim = number(attention.key_length, heads > 0 ? hidden / heads : 0);
  const tokens = (metadata.tokenizer as { ggml?: { tokens?: unknown[] } } | undefined)?.ggml?.tokens;
  return {
    hidden,
    heads,
    kvWidth: kvHeads * headDim,
    layers: number(arch.block_count, 0),
    feedForward: number(arch.feed_forward_length, 4 * hidden),
    vocabularySize: number(arch.vocab_size, tokens?.length ?? 0),
    trainContextSize: typeof arch.context_length === "number" ? arch.context_length : undefined,
  };
}

/**
 * Bytes of the tensors the CPU backend repacks: every matrix of a repackable type but the token
 * embedding, which is read by row from the mapped file; a tied embedding is copied once more as the
 * output matrix.
 */
function repackedBytes(fileInfo: GgufFileInfo, fileBytes: number): number {
  const tensors = [...(fileInfo.fullTensorInfo ?? [])].sort(
    (a, b) => Number(a.fileOffset) - Number(b.fileOffset),
  );
  let total = 0;
  const hasOutput = tensors.some((tensor) => tensor.name === "output.weight");
  for (const [index, tensor] of tensors.entries()) {
    if (!repackedTypes.has(tensor.ggmlType) || tensor.dimensions.length < 2) continue;
    const end = index + 1 < tensors.length ? Number(tensors[index + 1]!.fileOffset) : fileBytes;
    const bytes = end - Number(tensor.fileOffset);
    if (tensor.name !== "token_embd.weight") total += bytes;
    else if (!hasOutput) total += bytes;
  }
  return total;
}
