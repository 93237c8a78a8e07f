import { readFile } from "node:fs/promises";
import { readGgufFileInfo } from "node-llama-cpp";
import type { GgufMetadataValue } from "./gguf/constants.ts";
import { extractLlamaCppFile, llamaCppSourceFiles, type VocabSourceOptions } from "./vocab-source.ts";

/** llama.cpp token types (`llama_token_type` / gguf-py `TokenType`). */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export type VocabularyName = "deepseek-r1-distill-qwen" | "qwen2.5";

interface AddedToken {
  id: number;
  text: string;
  special: boolean;
}

const QWEN_VOCAB_SIZE = 151936;
const FIRST_ADDED_ID = 151643;

/** Qwen2-family added tokens from 151650 on, shared by both vocabularies (tokenizer_config.json). */
const qwenSharedTail: readonly AddedToken[] = [
  { id: 151650, text: "<|quad_start|>", special: true },
  { id: 151651, text: "<|quad_end|>", special: true },
  { id: 151652, text: "<|vision_start|>", special: true },
  { id: 151653, text: "<|vision_end|>", special: true },
  { id: 151654, text: "<|vision_pad|>", special: true },
  { id: 151655, text: "<|image_pad|>", special: true },
  { id: 151656, text: "<|video_pad|>", special: true },
  { id: 151657, text: "<tool_call>", special: false },
  { id: 151658, text: "</tool_call>", special: false },
  { id: 151659, text: "<|fim_prefix|>", special: false },
  { id: 151660, text: "<|fim_middle|>", special: false },
  { id: 151661, text: "<|fim_suffix|>", special: false },
  { id: 151662, text: "<|fim_pad|>", special: false },
  { id: 151663, text: "<|repo_name|>", special: false },
  { id: 151664, text: "<|file_sep|>", special: false },
];

/** DeepSeek-R1-Distill-Qwen's `added_tokens_decoder`, as published in its tokenizer_config.json. */
export const deepSeekR1DistillQwenAddedTokens: readonly AddedToken[] = [
  { id: 151643, text: "<｜end▁of▁sentence｜>", special: true },
  { id: 151644, text: "<｜User｜>", special: false },
  { id: 151645, text: "<｜Assistant｜>", special: false },
  { id: 151646, text: "<｜begin▁of▁sentence｜>", special: true },
  { id: 151647, text: "<|EOT|>", special: false },
  { id: 151648, text: "<think>", special: false },
  { id: 151649, text: "</think>", special: false },
  ...qwenSharedTail,
];

/** Qwen2.5's `added_tokens_decoder` (Qwen2.5-*-Instruct tokenizer_config.json). */
export const qwen25AddedTokens: readonly AddedToken[] = [
  { id: 151643, text: "<|endoftext|>", special: true },
  { id: 151644, text: "<|im_start|>", special: true },
  { id: 151645, text: "<|im_end|>", special: true },
  { id: 151646, text: "<|object_ref_start|>", special: true },
  { id: 151647, text: "<|object_ref_end|>", special: true },
  { id: 151648, text: "<|box_start|>", special: true },
  { id: 151649, text: "<|box_end|>", special: true },
  ...qwenSharedTail,
];

interface VocabularyDefinition {
  addedTokens: readonly AddedToken[];
  template: string;
  pre: string;
  bos: number;
  eos: number;
  padding: number;
  addBos: boolean;
}

const definitions: Record<VocabularyName, VocabularyDefinition> = {
  "deepseek-r1-distill-qwen": {
    addedTokens: deepSeekR1DistillQwenAddedTokens,
    template: llamaCppSourceFiles.deepSeekR1DistillQwenTemplate,
    pre: "deepseek-r1-qwen",
    bos: 151646,
    eos: 151643,
    padding: 151643,
    addBos: true,
  },
  "qwen2.5": {
    addedTokens: qwen25AddedTokens,
    template: llamaCppSourceFiles.qwen25InstructTemplate,
    pre: "qwen2",
    bos: 151643,
    eos: 151645,
    padding: 151643,
    addBos: false,
  },
};

/** convert_hf_to_gguf.py's `does_token_look_special`, for the patterns these vocabularies use. */
function looksSpecial(text: string): boolean {
  return (text.startsWith("<|") && text.endsWith("|>")) || (text.startsWith("<｜") && text.endsWith("｜>"));
}

export interface Vocabulary {
  tokens: string[];
  tokenTypes: number[];
  merges: readonly string[];
  /** The first `[PAD…]` id: ids from here on are never produced by the tokenizer. */
  firstUnusedId: number;
  metadata: [string, GgufMetadataValue][];
}

/**
 * The real Qwen2 BPE vocabulary and merges from llama.cpp's `ggml-vocab-qwen2.gguf`, with the
 * model's added tokens laid over ids 151643.. exactly as convert_hf_to_gguf.py types them, and the
 * model's chat template. Returns the `tokenizer.*` metadata entries a GGUF needs.
 */
export async function loadVocabulary(
  name: VocabularyName,
  options: VocabSourceOptions = {},
): Promise<Vocabulary> {
  const definition = definitions[name];
  const [vocabPath, templatePath] = await Promise.all([
    extractLlamaCppFile(llamaCppSourceFiles.qwen2Vocab, options),
    extractLlamaCppFile(definition.template, options),
  ]);
  const [info, template] = await Promise.all([
    readGgufFileInfo(vocabPath, { readTensorInfo: false, logWarnings: false }),
    readFile(templatePath, "utf8"),
  ]);
  const ggml = info.metadata.tokenizer?.ggml as
    | { tokens?: unknown; token_type?: unknown; merges?: unknown }
    | undefined;
  const baseTokens = ggml?.tokens;
  const baseTypes = ggml?.token_type;
  const baseMerges = ggml?.merges;
  if (!Array.isArray(baseTokens) || !Array.isArray(baseTypes) || !Array.isArray(baseMerges)) {
    throw new Error(`${vocabPath} lacks tokenizer.ggml.tokens, token_type or merges`);
  }
  const tokens = baseTokens.slice(0, FIRST_ADDED_ID).map(String);
  const tokenTypes = baseTypes.slice(0, FIRST_ADDED_ID).map(Number);
  for (const added of definition.addedTokens) {
    if (added.id !== tokens.length) throw new Error(`added token ids must be contiguous (at ${added.id})`);
    tokens.push(added.text);
    tokenTypes.push(added.special || looksSpecial(added.text) ? TokenType.control : TokenType.userDefined);
  }
  const firstUnusedId = tokens.length;
  for (let id = tokens.length; id < QWEN_VOCAB_SIZE; id++) {
    tokens.push(`[PAD${id}]`);
    tokenTypes.push(TokenType.unused);
  }
  const merges = baseMerges.map(String);
  const u32 = (value: number): GgufMetadataValue => ({ type: "uint32", value });
  const bool = (value: boolean): GgufMetadataValue => ({ type: "bool", value });
  const metadata: [string, GgufMetadataValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: definition.pre }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: tokenTypes }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
    ["tokenizer.ggml.bos_token_id", u32(definition.bos)],
    ["tokenizer.ggml.eos_token_id", u32(definition.eos)],
    ["tokenizer.ggml.padding_token_id", u32(definition.padding)],
    ["tokenizer.ggml.add_bos_token", bool(definition.addBos)],
    ["tokenizer.ggml.add_eos_token", bool(false)],
    ["tokenizer.chat_template", { type: "string", value: template }],
  ];
  return { tokens, tokenTypes, merges, firstUnusedId, metadata };
}
