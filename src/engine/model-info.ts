import { type GgufFileInfo, readGgufFileInfo } from "node-llama-cpp";
import type { ModelCapabilities } from "../core/backend.ts";

/** What a GGUF file says about itself, read from its header without loading the weights. */
export interface ModelFileInfo {
  architecture: string | undefined;
  name: string | undefined;
  parameterCount: number | undefined;
  quantization: string | undefined;
  trainedContextLength: number | undefined;
  chatTemplateFamily: string | undefined;
  sizeBytes: number;
  synthetic: boolean;
  capabilities: ModelCapabilities;
}

// llama_ftype values (llama.h) for the quantisations people actually serve.
const fileTypeNames: Record<number, string> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  7: "Q8_0",
  8: "Q5_0",
  9: "Q5_1",
  10: "Q2_K",
  11: "Q3_K_S",
  12: "Q3_K_M",
  13: "Q3_K_L",
  14: "Q4_K_S",
  15: "Q4_K_M",
  16: "Q5_K_S",
  17: "Q5_K_M",
  18: "Q6_K",
  19: "IQ2_XXS",
  20: "IQ2_XS",
  24: "IQ1_S",
  25: "IQ4_NL",
  26: "IQ3_S",
  27: "IQ3_M",
  28: "IQ2_S",
  29: "IQ2_M",
  30: "IQ4_XS",
  31: "IQ1_M",
  32: "BF16",
  36: "TQ1_0",
  37: "TQ2_0",
  38: "MXFP4_MOE",
};

export function quantizationName(fileType: number | undefined): string | undefined {
  if (fileType === undefined) return undefined;
  return fileTypeNames[fileType] ?? `ftype_${fileType}`;
}

/** Names the prompt format from the chat template's tell-tale tokens. */
export function chatTemplateFamily(template: string | undefined): string | undefined {
  if (template === undefined || template === "") return undefined;
  if (template.includes("<｜Assistant｜>")) return "deepseek-r1";
  if (template.includes("<|start_header_id|>")) return "llama3";
  if (template.includes("[INST]")) return "mistral";
  if (template.includes("<|im_start|>")) return "chatml";
  if (template.includes("<start_of_turn>")) return "gemma";
  if (template.includes("<|user|>")) return "phi";
  return "custom";
}

export function describeGguf(fileInfo: GgufFileInfo, sizeBytes: number): ModelFileInfo {
  const metadata = fileInfo.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const general = metadata.general ?? {};
  const architecture = typeof general.architecture === "string" ? general.architecture : undefined;
  const archSection = architecture === undefined ? {} : (metadata[architecture] ?? {});
  const template = (metadata.tokenizer as { chat_template?: string } | undefined)?.chat_template;
  const family = chatTemplateFamily(template);
  let parameterCount: number | undefined;
  if (fileInfo.fullTensorInfo !== undefined) {
    parameterCount = 0;
    for (const tensor of fileInfo.fullTensorInfo) {
      parameterCount += tensor.dimensions.reduce<number>((product, dim) => product * Number(dim), 1);
    }
  }
  const isEmbeddingModel =
    architecture === "bert" ||
    architecture === "nomic-bert" ||
    architecture === "xlm-roberta" ||
    archSection.pooling_type !== undefined;
  return {
    architecture,
    name: typeof general.name === "string" ? general.name : undefined,
    parameterCount,
    quantization: quantizationName(typeof general.file_type === "number" ? general.file_type : undefined),
    trainedContextLength:
      typeof archSection.context_length === "number" ? archSection.context_length : undefined,
    chatTemplateFamily: family,
    sizeBytes,
    synthetic: (metadata.bastion as { synthetic?: unknown } | undefined)?.synthetic === true,
    capabilities: {
      chat: !isEmbeddingModel,
      reasoning:
        template?.includes("<think>") === true ||
        template?.includes("</think>") === true ||
        family === "deepseek-r1",
      tools: !isEmbeddingModel,
      jsonSchema: !isEmbeddingModel,
      embeddings: true,
    },
  };
}

/** Reads a GGUF header (and tensor table, for the parameter count). Split files are read as one. */
export async function inspectModelFile(path: string, sizeBytes: number): Promise<ModelFileInfo> {
  const fileInfo = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
  return describeGguf(fileInfo, sizeBytes);
}
