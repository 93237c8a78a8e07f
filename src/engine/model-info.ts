import { type GgufFileInfo, readGgufFileInfo } from "node-llama-cpp";
import type { ModelCapabilities } from "../core/backend.ts";
import { type ChatTemplateFamily, chatTemplateFamily, quantisationName } from "../core/gguf-names.ts";

/** What a GGUF file says about itself, read from its header without loading the weights. */
export interface ModelFileInfo {
  architecture: string | undefined;
  name: string | undefined;
  parameterCount: number | undefined;
  quantization: string | undefined;
  trainedContextLength: number | undefined;
  /** Length of the model's embedding vectors (its hidden size). */
  embeddingLength: number | undefined;
  chatTemplateFamily: ChatTemplateFamily;
  /** `general.size_label` (e.g. "1.5B"), when the file has one. */
  sizeLabel: string | undefined;
  sizeBytes: number;
  synthetic: boolean;
  capabilities: ModelCapabilities;
}

/**
 * The one "describe this model" function: what the server's `/v1/models`, `bastion models` and
 * the pool know about a GGUF file, from node-llama-cpp's header reader.
 */
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
    quantization: quantisationName(typeof general.file_type === "number" ? general.file_type : undefined),
    trainedContextLength:
      typeof archSection.context_length === "number" ? archSection.context_length : undefined,
    embeddingLength:
      typeof archSection.embedding_length === "number" ? archSection.embedding_length : undefined,
    chatTemplateFamily: family,
    sizeLabel: typeof general.size_label === "string" ? general.size_label : undefined,
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
