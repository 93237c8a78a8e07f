import type { GgmlTypeName } from "./gguf/constants.ts";
import { quantize } from "./gguf/quantize.ts";
import type { GgufTensorSpec } from "./gguf/writer.ts";
import type { SyntheticPreset } from "./presets.ts";
import { SeededRandom } from "./random.ts";

export interface TensorShape {
  name: string;
  /** ggml order: dims[0] is the row length (a linear layer's input size). */
  dims: readonly number[];
  /** Stored as F32 whatever the file type (e.g. BERT's `token_types`, which ggml adds as is). */
  f32?: boolean;
}

/** Fills consecutive chunks of one tensor's values, in file order; called once per chunk. */
export type WeightFiller = (out: Float32Array) => void;
/** Decides the values of every tensor of a model. */
export type WeightSource = (tensor: TensorShape) => WeightFiller;

/** About 4 MB of float32 per chunk: small enough to stream, large enough to amortise calls. */
const CHUNK_ELEMENTS = 1 << 20;

/** The tensors llama.cpp's qwen2 loader (src/models/qwen2.cpp) asks for, in the order it lists them. */
export function qwen2TensorShapes(preset: SyntheticPreset): TensorShape[] {
  const n = preset.hiddenSize;
  const kv = (preset.hiddenSize / preset.heads) * preset.kvHeads;
  const ff = preset.intermediateSize;
  const shapes: TensorShape[] = [
    { name: "token_embd.weight", dims: [n, preset.vocabSize] },
    { name: "output_norm.weight", dims: [n] },
  ];
  if (!preset.tiedEmbeddings) shapes.push({ name: "output.weight", dims: [n, preset.vocabSize] });
  for (let i = 0; i < preset.layers; i++) {
    const b = `blk.${i}`;
    shapes.push(
      { name: `${b}.attn_norm.weight`, dims: [n] },
      { name: `${b}.attn_q.weight`, dims: [n, n] },
      { name: `${b}.attn_q.bias`, dims: [n] },
      { name: `${b}.attn_k.weight`, dims: [n, kv] },
      { name: `${b}.attn_k.bias`, dims: [kv] },
      { name: `${b}.attn_v.weight`, dims: [n, kv] },
      { name: `${b}.attn_v.bias`, dims: [kv] },
      { name: `${b}.attn_output.weight`, dims: [n, n] },
      { name: `${b}.ffn_norm.weight`, dims: [n] },
      { name: `${b}.ffn_gate.weight`, dims: [n, ff] },
      { name: `${b}.ffn_up.weight`, dims: [n, ff] },
      { name: `${b}.ffn_down.weight`, dims: [ff, n] },
    );
  }
  return shapes;
}

/**
 * Seeded random weights: norms 1, everything else bell-shaped with std 0.02, which keeps
 * activations in range through 28 layers. Each tensor has its own stream, keyed by its name.
 * Vocabulary rows from `unusedFrom` on (the `[PAD…]` ids) are zero, as untrained rows nearly are
 * in real checkpoints, so that a random model does not babble invisible padding tokens.
 */
export function randomWeights(seed: number, options: { unusedFrom?: number } = {}): WeightSource {
  return ({ name, dims }) => {
    if (name.endsWith("_norm.weight")) return (out) => out.fill(1);
    const random = new SeededRandom(seed, name);
    const isVocabulary = name === "token_embd.weight" || name === "output.weight";
    const unusedFrom = options.unusedFrom;
    if (!isVocabulary || unusedFrom === undefined) return (out) => random.fillNormalish(out, 0.02);
    const rowLength = dims[0] as number;
    let row = 0;
    return (out) => {
      const rows = out.length / rowLength;
      const used = Math.max(0, Math.min(rows, unusedFrom - row));
      random.fillNormalish(out.subarray(0, used * rowLength), 0.02);
      row += rows;
    };
  };
}

/** The tensors of `preset`, each generated and encoded chunk by chunk when the writer reaches it. */
export function qwen2Tensors(options: {
  preset: SyntheticPreset;
  type: GgmlTypeName;
  weights: WeightSource;
}): GgufTensorSpec[] {
  return encodeTensors(qwen2TensorShapes(options.preset), options);
}

/** Tensors of any shape list, each generated and encoded chunk by chunk when the writer reaches it. */
export function encodeTensors(
  shapes: readonly TensorShape[],
  options: { type: GgmlTypeName; weights: WeightSource },
): GgufTensorSpec[] {
  return shapes.map((shape) => {
    // llama.cpp convention: 1-D tensors (norms, biases) stay F32 whatever the file type.
    const type: GgmlTypeName = shape.dims.length === 1 || shape.f32 === true ? "F32" : options.type;
    return {
      name: shape.name,
      dims: shape.dims,
      type,
      *data() {
        const rowLength = shape.dims[0] as number;
        const rows = shape.dims.slice(1).reduce((a, b) => a * b, 1);
        const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / rowLength));
        const fill = options.weights(shape);
        for (let row = 0; row < rows; row += rowsPerChunk) {
          const values = new Float32Array(Math.min(rowsPerChunk, rows - row) * rowLength);
          fill(values);
          yield quantize(type, values);
        }
      },
    };
  });
}
