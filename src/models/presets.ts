import type { VocabularyName } from "./vocabulary.ts";

/** The exact shape of a qwen2-architecture model, plus what a synthetic copy of it is made of. */
export interface SyntheticPreset {
  name: string;
  description: string;
  /** `general.name` of the file. */
  modelName: string;
  architecture: "qwen2";
  vocabulary: VocabularyName;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  contextLength: number;
  ropeTheta: number;
  rmsEpsilon: number;
  /** Tied: no `output.weight`, llama.cpp reuses `token_embd.weight`. */
  tiedEmbeddings: boolean;
  defaultType: "f32" | "f16" | "q8_0" | "q4_0";
  /** Weights come from the scripted construction (src/models/scripted.ts), not from the PRNG. */
  scripted: boolean;
  /** For scripted presets: what the model says (default: the short thought and answer). */
  chain?: "default" | "passage";
}

const QWEN_VOCAB_SIZE = 151936;

const tinyShape = {
  architecture: "qwen2",
  vocabulary: "deepseek-r1-distill-qwen",
  hiddenSize: 64,
  intermediateSize: 128,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  vocabSize: QWEN_VOCAB_SIZE,
  contextLength: 4096,
  ropeTheta: 10000,
  rmsEpsilon: 1e-6,
} as const;

export const syntheticPresets = {
  "deepseek-r1-distill-qwen-1.5b": {
    name: "deepseek-r1-distill-qwen-1.5b",
    description: "DeepSeek-R1-Distill-Qwen-1.5B shape, vocabulary and template; random weights",
    modelName: "DeepSeek R1 Distill Qwen 1.5B (synthetic)",
    architecture: "qwen2",
    vocabulary: "deepseek-r1-distill-qwen",
    hiddenSize: 1536,
    intermediateSize: 8960,
    layers: 28,
    heads: 12,
    kvHeads: 2,
    vocabSize: QWEN_VOCAB_SIZE,
    contextLength: 131072,
    ropeTheta: 10000,
    rmsEpsilon: 1e-6,
    tiedEmbeddings: false,
    defaultType: "q8_0",
    scripted: false,
  },
  "qwen2.5-0.5b": {
    name: "qwen2.5-0.5b",
    description: "Qwen2.5-0.5B-Instruct shape, vocabulary and template; random weights",
    modelName: "Qwen2.5 0.5B Instruct (synthetic)",
    architecture: "qwen2",
    vocabulary: "qwen2.5",
    hiddenSize: 896,
    intermediateSize: 4864,
    layers: 24,
    heads: 14,
    kvHeads: 2,
    vocabSize: QWEN_VOCAB_SIZE,
    contextLength: 32768,
    ropeTheta: 1000000,
    rmsEpsilon: 1e-6,
    tiedEmbeddings: true,
    defaultType: "q8_0",
    scripted: false,
  },
  "scripted-r1-1.5b": {
    name: "scripted-r1-1.5b",
    description:
      "DeepSeek-R1-Distill-Qwen-1.5B shape and vocabulary; greedy output is a known 320-token passage (speculative-decoding benchmarks)",
    modelName: "DeepSeek R1 Distill Qwen 1.5B Scripted (synthetic)",
    architecture: "qwen2",
    vocabulary: "deepseek-r1-distill-qwen",
    hiddenSize: 1536,
    intermediateSize: 8960,
    layers: 28,
    heads: 12,
    kvHeads: 2,
    vocabSize: QWEN_VOCAB_SIZE,
    contextLength: 131072,
    ropeTheta: 10000,
    rmsEpsilon: 1e-6,
    tiedEmbeddings: false,
    defaultType: "q8_0",
    scripted: true,
    chain: "passage",
  },
  tiny: {
    ...tinyShape,
    name: "tiny",
    description:
      "A few-MB qwen2 with the real DeepSeek-R1-Distill-Qwen vocabulary and template; random weights",
    modelName: "DeepSeek R1 Distill Qwen Tiny (synthetic)",
    tiedEmbeddings: true,
    defaultType: "q8_0",
    scripted: false,
  },
  scripted: {
    ...tinyShape,
    name: "scripted",
    description:
      "tiny's shape with weights whose greedy output is a fixed chain: <think>Hmm, ...</think>Bon jour !",
    modelName: "DeepSeek R1 Distill Qwen Scripted (synthetic)",
    tiedEmbeddings: false,
    defaultType: "f16",
    scripted: true,
  },
} as const satisfies Record<string, SyntheticPreset>;

/**
 * The shape of a BERT-architecture cross-encoder (llama.cpp's `bert` with rank pooling and the
 * `cls` / `cls.output` head), which node-llama-cpp's `createRankingContext` accepts.
 */
export interface SyntheticRerankerPreset {
  name: string;
  description: string;
  modelName: string;
  architecture: "bert";
  /** llama.cpp's BERT WordPiece vocabulary (`models/ggml-vocab-bert-bge.gguf`). */
  vocabulary: "bert-bge";
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  contextLength: number;
  layerNormEpsilon: number;
  defaultType: "f32" | "f16" | "q8_0" | "q4_0";
}

export const syntheticRerankerPresets = {
  "tiny-reranker": {
    name: "tiny-reranker",
    description:
      "A few-MB BERT cross-encoder (rank pooling, cls head) with llama.cpp's BERT vocabulary; random weights, so its scores carry no relevance",
    modelName: "Tiny Reranker (synthetic)",
    architecture: "bert",
    vocabulary: "bert-bge",
    hiddenSize: 64,
    intermediateSize: 128,
    layers: 2,
    heads: 4,
    // bge-reranker-v2-m3's context, so that Bastion's passage clipping is exercised as with the real one.
    contextLength: 8192,
    layerNormEpsilon: 1e-12,
    defaultType: "f16",
  },
} as const satisfies Record<string, SyntheticRerankerPreset>;

export type SyntheticPresetName = keyof typeof syntheticPresets | keyof typeof syntheticRerankerPresets;

export const syntheticPresetNames = [
  ...Object.keys(syntheticPresets),
  ...Object.keys(syntheticRerankerPresets),
] as SyntheticPresetName[];

export function isSyntheticPresetName(name: string): name is SyntheticPresetName {
  return Object.hasOwn(syntheticPresets, name) || Object.hasOwn(syntheticRerankerPresets, name);
}

export function isSyntheticRerankerPresetName(name: string): name is keyof typeof syntheticRerankerPresets {
  return Object.hasOwn(syntheticRerankerPresets, name);
}
