import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  bertRerankerMetadata,
  bertRerankerTensorShapes,
  bertRerankerWeights,
  loadBertVocabulary,
} from "./bert-reranker.ts";
import { SyntheticModelError } from "./errors.ts";
import { type GgmlTypeName, type GgufMetadataValue, llamaFileType } from "./gguf/constants.ts";
import { writeGguf } from "./gguf/writer.ts";
import {
  isSyntheticPresetName,
  isSyntheticRerankerPresetName,
  type SyntheticPreset,
  type SyntheticRerankerPreset,
  syntheticPresetNames,
  syntheticPresets,
  syntheticRerankerPresets,
} from "./presets.ts";
import { encodeTensors, qwen2Tensors, randomWeights, type WeightSource } from "./qwen2-tensors.ts";
import { defaultScriptedChain, type ScriptedChain, scriptedWeights } from "./scripted.ts";
import { passageChain } from "./scripted-passage.ts";
import { llamaCppBundle } from "./vocab-source.ts";
import { loadVocabulary, type Vocabulary } from "./vocabulary.ts";

export type SyntheticWeightType = "f32" | "f16" | "q8_0" | "q4_0";
export const syntheticWeightTypes: readonly SyntheticWeightType[] = ["f32", "f16", "q8_0", "q4_0"];

/** Bump when the bytes a given (preset, type, seed) produces change, so cached files are rebuilt. */
export const SYNTH_WRITER_VERSION = 1;
export const DEFAULT_SEED = 1;

const ggmlTypeOf: Record<SyntheticWeightType, GgmlTypeName> = {
  f32: "F32",
  f16: "F16",
  q8_0: "Q8_0",
  q4_0: "Q4_0",
};

export interface SynthesizeModelOptions {
  preset: string;
  /** Defaults to the preset's `defaultType`. */
  type?: SyntheticWeightType;
  out: string;
  seed?: number;
  /** Where llama.cpp's vocabulary and templates are extracted; defaults to `cacheDir()`. */
  cacheDir?: string;
  /** For the `scripted` preset: a chain other than {@link defaultScriptedChain}. */
  chain?: ScriptedChain;
}

export interface SynthesizedModel {
  path: string;
  bytes: number;
  sha256: string;
  preset: string;
  type: SyntheticWeightType;
}

export function resolvePreset(name: string): SyntheticPreset | SyntheticRerankerPreset {
  if (!isSyntheticPresetName(name)) {
    throw new SyntheticModelError(
      `unknown synthetic preset "${name}"; valid presets: ${syntheticPresetNames.join(", ")}`,
    );
  }
  return isSyntheticRerankerPresetName(name) ? syntheticRerankerPresets[name] : syntheticPresets[name];
}

function resolveType(
  preset: SyntheticPreset | SyntheticRerankerPreset,
  type: string | undefined,
): SyntheticWeightType {
  const resolved = type ?? preset.defaultType;
  if (!(syntheticWeightTypes as readonly string[]).includes(resolved)) {
    throw new SyntheticModelError(
      `unknown weight type "${resolved}"; valid types: ${syntheticWeightTypes.join(", ")}`,
    );
  }
  return resolved as SyntheticWeightType;
}

const vocabularies = new Map<string, Promise<Vocabulary>>();

function cachedVocabulary(preset: SyntheticPreset, cacheDir: string | undefined): Promise<Vocabulary> {
  const key = `${preset.vocabulary}\0${cacheDir ?? ""}`;
  let vocabulary = vocabularies.get(key);
  if (vocabulary === undefined) {
    vocabulary = loadVocabulary(preset.vocabulary, cacheDir === undefined ? {} : { cacheDir });
    vocabulary.catch(() => vocabularies.delete(key));
    vocabularies.set(key, vocabulary);
  }
  return vocabulary;
}

/** The `general.*` keys and Bastion's synthetic marker, the same for every synthetic file. */
function generalMetadata(
  arch: string,
  preset: { name: string; modelName: string },
  type: GgmlTypeName,
): [string, GgufMetadataValue][] {
  const u32 = (value: number): GgufMetadataValue => ({ type: "uint32", value });
  const str = (value: string): GgufMetadataValue => ({ type: "string", value });
  return [
    ["general.architecture", str(arch)],
    ["general.type", str("model")],
    ["general.name", str(preset.modelName)],
    ["general.file_type", u32(llamaFileType[type])],
    ["general.quantization_version", u32(2)],
    ["bastion.synthetic", { type: "bool", value: true }],
    ["bastion.preset", str(preset.name)],
    ["bastion.synth_version", u32(SYNTH_WRITER_VERSION)],
  ];
}

function modelMetadata(options: {
  preset: SyntheticPreset;
  type: GgmlTypeName;
  vocabulary: Vocabulary;
}): [string, GgufMetadataValue][] {
  const { preset } = options;
  const arch = preset.architecture;
  const u32 = (value: number): GgufMetadataValue => ({ type: "uint32", value });
  const f32 = (value: number): GgufMetadataValue => ({ type: "float32", value });
  return [
    ...generalMetadata(arch, preset, options.type),
    [`${arch}.context_length`, u32(preset.contextLength)],
    [`${arch}.embedding_length`, u32(preset.hiddenSize)],
    [`${arch}.feed_forward_length`, u32(preset.intermediateSize)],
    [`${arch}.block_count`, u32(preset.layers)],
    [`${arch}.attention.head_count`, u32(preset.heads)],
    [`${arch}.attention.head_count_kv`, u32(preset.kvHeads)],
    [`${arch}.rope.freq_base`, f32(preset.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(preset.rmsEpsilon)],
    ...options.vocabulary.metadata,
  ];
}

/**
 * Writes a synthetic GGUF model: `preset`'s exact shape, the real vocabulary and chat template,
 * seeded weights (the same bytes for the same arguments). Streams tensor by tensor, so a 1.5B
 * model needs no more than a few MB of memory; the file appears at `out` only when complete.
 */
export async function synthesizeModel(options: SynthesizeModelOptions): Promise<SynthesizedModel> {
  const preset = resolvePreset(options.preset);
  const type = resolveType(preset, options.type);
  const ggmlType = ggmlTypeOf[type];
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new SyntheticModelError(`seed must be an integer, got ${seed}`);
  await mkdir(dirname(options.out), { recursive: true });
  if (preset.architecture === "bert") {
    const result = await writeReranker({
      preset,
      type: ggmlType,
      seed,
      out: options.out,
      cacheDir: options.cacheDir,
    });
    return { ...result, preset: preset.name, type };
  }
  const vocabulary = await cachedVocabulary(preset, options.cacheDir);
  const weights: WeightSource = preset.scripted
    ? scriptedWeights(
        options.chain ?? (preset.chain === "passage" ? passageChain : defaultScriptedChain),
        preset.hiddenSize,
      )
    : randomWeights(seed, { unusedFrom: vocabulary.firstUnusedId });
  const result = await writeGguf({
    path: options.out,
    metadata: modelMetadata({ preset, type: ggmlType, vocabulary }),
    tensors: qwen2Tensors({ preset, type: ggmlType, weights }),
  });
  return { ...result, preset: preset.name, type };
}

/** A BERT cross-encoder: llama.cpp's BERT vocabulary, rank pooling, seeded weights. */
async function writeReranker(options: {
  preset: SyntheticRerankerPreset;
  type: GgmlTypeName;
  seed: number;
  out: string;
  cacheDir: string | undefined;
}) {
  const { preset } = options;
  const vocabulary = await loadBertVocabulary(
    options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir },
  );
  return writeGguf({
    path: options.out,
    metadata: [
      ...generalMetadata("bert", preset, options.type),
      ...bertRerankerMetadata(preset),
      ...vocabulary.metadata,
    ],
    tensors: encodeTensors(bertRerankerTensorShapes(preset, vocabulary.size), {
      type: options.type,
      weights: bertRerankerWeights(options.seed),
    }),
  });
}

export interface EnsureSyntheticModelOptions {
  preset: string;
  type?: SyntheticWeightType;
  /** Folder that holds generated models; the file name encodes preset, type, seed and writer version. */
  dir: string;
  seed?: number;
  cacheDir?: string;
}

/**
 * The file name {@link ensureSyntheticModel} uses, e.g. `tiny.q8_0.s1.v1.v0.5.0-35273016.gguf`: the
 * llama.cpp source version is part of it because the vocabulary and template come from there.
 */
export function syntheticModelFileName(preset: string, type: SyntheticWeightType, seed: number): string {
  return `${preset}.${type}.s${seed}.v${SYNTH_WRITER_VERSION}.${llamaCppBundle().tag}.gguf`;
}

/**
 * Returns a synthetic model from `dir`, writing it first if it is not there. Safe when several
 * processes ask at once: each writes to its own temporary file and the last rename wins, with
 * identical bytes.
 */
export async function ensureSyntheticModel(
  options: EnsureSyntheticModelOptions,
): Promise<{ path: string; bytes: number; created: boolean }> {
  const preset = resolvePreset(options.preset);
  const type = resolveType(preset, options.type);
  const seed = options.seed ?? DEFAULT_SEED;
  const path = join(options.dir, syntheticModelFileName(preset.name, type, seed));
  if (existsSync(path)) return { path, bytes: (await stat(path)).size, created: false };
  const written = await synthesizeModel({
    preset: preset.name,
    type,
    out: path,
    seed,
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
  });
  return { path, bytes: written.bytes, created: true };
}
