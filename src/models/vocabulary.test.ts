import { describe, expect, it } from "vitest";
import { testCacheDir } from "./testing.ts";
import { loadVocabulary, TokenType } from "./vocabulary.ts";

function metadataValue(vocabulary: Awaited<ReturnType<typeof loadVocabulary>>, key: string): unknown {
  return vocabulary.metadata.find(([name]) => name === key)?.[1].value;
}

describe("loadVocabulary", () => {
  it("lays DeepSeek-R1-Distill-Qwen's added tokens over the base Qwen2 vocabulary", async () => {
    const vocabulary = await loadVocabulary("deepseek-r1-distill-qwen", { cacheDir: testCacheDir });
    expect(vocabulary.tokens).toHaveLength(151936);
    expect(vocabulary.tokenTypes).toHaveLength(151936);
    expect(vocabulary.tokens.slice(0, 3)).toEqual(["!", '"', "#"]); // the real base vocabulary
    expect(vocabulary.merges.length).toBeGreaterThan(150000);
    expect(vocabulary.tokens.slice(151643, 151650)).toEqual([
      "<｜end▁of▁sentence｜>",
      "<｜User｜>",
      "<｜Assistant｜>",
      "<｜begin▁of▁sentence｜>",
      "<|EOT|>",
      "<think>",
      "</think>",
    ]);
    expect(vocabulary.tokens[151664]).toBe("<|file_sep|>");
    const { control, userDefined, unused, normal } = TokenType;
    expect(vocabulary.tokenTypes.slice(151643, 151665)).toEqual([
      control,
      control,
      control,
      control,
      control, // ｜…｜ and <|EOT|> look special
      userDefined,
      userDefined, // <think> </think>
      control,
      control,
      control,
      control,
      control,
      control,
      control,
      userDefined,
      userDefined, // <tool_call> </tool_call>
      control,
      control,
      control,
      control,
      control,
      control,
    ]);
    expect(vocabulary.tokens[151665]).toBe("[PAD151665]");
    expect(vocabulary.tokenTypes[151935]).toBe(unused);
    expect(vocabulary.tokenTypes[1000]).toBe(normal);
    expect(vocabulary.firstUnusedId).toBe(151665);
    expect(metadataValue(vocabulary, "tokenizer.ggml.pre")).toBe("deepseek-r1-qwen");
    expect(metadataValue(vocabulary, "tokenizer.ggml.bos_token_id")).toBe(151646);
    expect(metadataValue(vocabulary, "tokenizer.ggml.eos_token_id")).toBe(151643);
    expect(metadataValue(vocabulary, "tokenizer.ggml.add_bos_token")).toBe(true);
    expect(metadataValue(vocabulary, "tokenizer.chat_template")).toContain("<｜Assistant｜><think>\\n");
  });

  it("gives Qwen2.5 its own added tokens, eos <|im_end|> and no BOS", async () => {
    const vocabulary = await loadVocabulary("qwen2.5", { cacheDir: testCacheDir });
    expect(vocabulary.tokens.slice(151643, 151646)).toEqual(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
    expect(vocabulary.tokens[151648]).toBe("<|box_start|>");
    expect(metadataValue(vocabulary, "tokenizer.ggml.pre")).toBe("qwen2");
    expect(metadataValue(vocabulary, "tokenizer.ggml.eos_token_id")).toBe(151645);
    expect(metadataValue(vocabulary, "tokenizer.ggml.add_bos_token")).toBe(false);
    expect(metadataValue(vocabulary, "tokenizer.chat_template")).toContain("<|im_start|>");
  });
});
