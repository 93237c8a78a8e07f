import { readGgufFileInfo } from "node-llama-cpp";
import type { GgufMetadataValue } from "./gguf/constants.ts";
import type { SyntheticRerankerPreset } from "./presets.ts";
import { randomWeights, type TensorShape, type WeightSource } from "./qwen2-tensors.ts";
import { SeededRandom } from "./random.ts";
import { extractLlamaCppFile, type VocabSourceOptions } from "./vocab-source.ts";

/** llama.cpp's own BERT WordPiece vocabulary (bge-small-en's), shipped in its source for tokenizer tests. */
const bertVocabFile = "models/ggml-vocab-bert-bge.gguf";

/** llama.cpp's `LLAMA_POOLING_TYPE_RANK`: CLS token, then the `cls` / `cls.output` head. */
const POOLING_TYPE_RANK = 4;

/** BERT's sentence A / sentence B token types; llama.cpp needs the count to load `token_types`. */
const TOKEN_TYPE_COUNT = 2;

/**
 * The `tokenizer.*` metadata of llama.cpp's BERT vocabulary file, copied as it is: WordPiece
 * tokens and types, and the [UNK] / [SEP] / [PAD] / [CLS] / [MASK] ids.
 */
export async function loadBertVocabulary(
  options: VocabSourceOptions = {},
): Promise<{ size: number; metadata: [string, GgufMetadataValue][] }> {
  const path = await extractLlamaCppFile(bertVocabFile, options);
  const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false });
  const ggml = info.metadata.tokenizer?.ggml as Record<string, unknown> | undefined;
  const tokens = ggml?.tokens;
  const types = ggml?.token_type;
  if (ggml === undefined || !Array.isArray(tokens) || !Array.isArray(types) || ggml.model !== "bert")
    throw new Error(`${path} is not a BERT vocabulary (tokenizer.ggml.model, tokens, token_type)`);
  const u32 = (value: number): GgufMetadataValue => ({ type: "uint32", value });
  const metadata: [string, GgufMetadataValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: "bert" }],
    ["tokenizer.ggml.pre", { type: "string", value: String(ggml.pre ?? "bert-bge") }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens.map(String) }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: types.map(Number) }],
    ["tokenizer.ggml.token_type_count", u32(TOKEN_TYPE_COUNT)],
  ];
  // The key names are llama.cpp's, including its spelling of "seperator".
  for (const key of [
    "unknown_token_id",
    "seperator_token_id",
    "padding_token_id",
    "cls_token_id",
    "mask_token_id",
  ]) {
    const value = ggml[key];
    if (typeof value === "number") metadata.push([`tokenizer.ggml.${key}`, u32(value)]);
  }
  return { size: tokens.length, metadata };
}

/** The `bert.*` keys llama.cpp's BERT loader reads, with rank pooling and one output label. */
export function bertRerankerMetadata(preset: SyntheticRerankerPreset): [string, GgufMetadataValue][] {
  const u32 = (value: number): GgufMetadataValue => ({ type: "uint32", value });
  return [
    ["bert.context_length", u32(preset.contextLength)],
    ["bert.embedding_length", u32(preset.hiddenSize)],
    ["bert.feed_forward_length", u32(preset.intermediateSize)],
    ["bert.block_count", u32(preset.layers)],
    ["bert.attention.head_count", u32(preset.heads)],
    ["bert.attention.layer_norm_epsilon", { type: "float32", value: preset.layerNormEpsilon }],
    ["bert.attention.causal", { type: "bool", value: false }],
    ["bert.pooling_type", u32(POOLING_TYPE_RANK)],
    // One label: the relevance logit node-llama-cpp turns into a 0..1 score with a sigmoid.
    ["bert.classifier.output_labels", { type: "array", itemType: "string", value: ["relevance"] }],
  ];
}

/** The tensors llama.cpp's BERT loader (src/models/bert.cpp) asks for, with the ranking head. */
export function bertRerankerTensorShapes(preset: SyntheticRerankerPreset, vocabSize: number): TensorShape[] {
  const n = preset.hiddenSize;
  const ff = preset.intermediateSize;
  const shapes: TensorShape[] = [
    { name: "token_embd.weight", dims: [n, vocabSize] },
    // ggml adds the type row to the activations directly, which it does only in F32 (as converted models have it).
    { name: "token_types.weight", dims: [n, TOKEN_TYPE_COUNT], f32: true },
    { name: "position_embd.weight", dims: [n, preset.contextLength] },
    { name: "token_embd_norm.weight", dims: [n] },
    { name: "token_embd_norm.bias", dims: [n] },
  ];
  for (let i = 0; i < preset.layers; i++) {
    const b = `blk.${i}`;
    shapes.push(
      { name: `${b}.attn_q.weight`, dims: [n, n] },
      { name: `${b}.attn_q.bias`, dims: [n] },
      { name: `${b}.attn_k.weight`, dims: [n, n] },
      { name: `${b}.attn_k.bias`, dims: [n] },
      { name: `${b}.attn_v.weight`, dims: [n, n] },
      { name: `${b}.attn_v.bias`, dims: [n] },
      { name: `${b}.attn_output.weight`, dims: [n, n] },
      { name: `${b}.attn_output.bias`, dims: [n] },
      { name: `${b}.attn_output_norm.weight`, dims: [n] },
      { name: `${b}.attn_output_norm.bias`, dims: [n] },
      { name: `${b}.ffn_up.weight`, dims: [n, ff] },
      { name: `${b}.ffn_up.bias`, dims: [ff] },
      { name: `${b}.ffn_down.weight`, dims: [ff, n] },
      { name: `${b}.ffn_down.bias`, dims: [n] },
      { name: `${b}.layer_output_norm.weight`, dims: [n] },
      { name: `${b}.layer_output_norm.bias`, dims: [n] },
    );
  }
  shapes.push(
    { name: "cls.weight", dims: [n, n] },
    { name: "cls.bias", dims: [n] },
    { name: "cls.output.weight", dims: [n, 1] },
    { name: "cls.output.bias", dims: [1] },
  );
  return shapes;
}

/**
 * Seeded random weights: norm scales 1 and norm biases 0, embeddings std 0.02 as for the chat
 * presets, but the layers' matrices (std 0.15) and the ranking head drawn wider. At 0.02 the CLS
 * state barely depends on the passage and every score lands within 0.01 of the others; with
 * these, scores spread over 0..1. They are deterministic but carry no relevance.
 */
export function bertRerankerWeights(seed: number): WeightSource {
  const body = randomWeights(seed);
  return (tensor) => {
    if (tensor.name.endsWith("_norm.bias") || tensor.name === "cls.output.bias") return (out) => out.fill(0);
    const std = wideStd(tensor.name);
    if (std !== undefined) {
      const random = new SeededRandom(seed, tensor.name);
      return (out) => random.fillNormalish(out, std);
    }
    return body(tensor);
  };
}

function wideStd(name: string): number | undefined {
  if (name === "cls.weight") return 0.2;
  if (name === "cls.output.weight") return 0.4;
  if (/^blk\.\d+\.(attn_[qkv]|attn_output|ffn_up|ffn_down)\.weight$/.test(name)) return 0.15;
  return undefined;
}
