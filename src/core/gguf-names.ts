/**
 * Names for what a GGUF header encodes as numbers or free text, shared by the store (which reads
 * headers itself) and the engine (which reads them through llama.cpp).
 */

export type ChatTemplateFamily =
  | "deepseek-r1"
  | "deepseek"
  | "qwen"
  | "chatml"
  | "llama3"
  | "llama2"
  | "mistral"
  | "gemma"
  | "phi3"
  | "unknown"
  | "none";

/** llama.cpp's `llama_ftype` (general.file_type) → quantisation name. */
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
  21: "Q2_K_S",
  22: "IQ3_XS",
  23: "IQ3_XXS",
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

export function quantisationName(fileType: number | undefined): string | undefined {
  if (fileType === undefined) return undefined;
  return fileTypeNames[fileType] ?? `ftype ${fileType}`;
}

/** The chat-template family, from the Jinja source in `tokenizer.chat_template`. */
export function chatTemplateFamily(template: string | undefined): ChatTemplateFamily {
  if (template === undefined || template.trim() === "") return "none";
  if (template.includes("<｜Assistant｜>")) return template.includes("</think>") ? "deepseek-r1" : "deepseek";
  if (template.includes("<|start_header_id|>")) return "llama3";
  if (template.includes("<|im_start|>")) return template.includes("<tool_call>") ? "qwen" : "chatml";
  if (template.includes("<start_of_turn>")) return "gemma";
  if (template.includes("<|user|>") && template.includes("<|end|>")) return "phi3";
  if (template.includes("[INST]")) return template.includes("<<SYS>>") ? "llama2" : "mistral";
  return "unknown";
}
