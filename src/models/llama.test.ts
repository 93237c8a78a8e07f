import {
  DeepSeekChatWrapper,
  type Llama,
  LlamaChatSession,
  type LlamaContext,
  type LlamaModel,
  QwenChatWrapper,
  resolveChatWrapper,
  type Token,
} from "node-llama-cpp";
import { beforeAll, describe, expect, it } from "vitest";
import { getLlamaRuntime } from "../engine/llama.ts";
import { scriptedChain } from "./scripted.ts";
import { syntheticTestModel } from "./testing.ts";

// One thread: these models are tiny, and on a 2-core box more threads only add contention.
const threads = 1;
let llama: Llama;

// The process-wide runtime, left open: test files share one process (isolate: false in
// vitest.config.ts), and disposing a Llama unloads llama.cpp's process-global backend under them.
beforeAll(async () => {
  llama = await getLlamaRuntime({ gpu: false });
});

async function withModel<T>(
  path: string,
  run: (model: LlamaModel, context: LlamaContext) => Promise<T>,
): Promise<T> {
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 512, threads });
  try {
    return await run(model, context);
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

async function greedy(context: LlamaContext, tokens: Token[], max: number): Promise<number[]> {
  const sequence = context.getSequence();
  const out: number[] = [];
  try {
    for await (const token of sequence.evaluate(tokens, { temperature: 0 })) {
      if (context.model.isEogToken(token)) break;
      out.push(token);
      if (out.length >= max) break;
    }
  } finally {
    sequence.dispose();
  }
  return out;
}

describe("tiny (random weights, real DeepSeek-R1-Distill-Qwen vocabulary)", () => {
  it("loads, resolves to the DeepSeek chat wrapper, and keeps chat tokens whole", async () => {
    await withModel(await syntheticTestModel("tiny"), async (model) => {
      expect(resolveChatWrapper(model)).toBeInstanceOf(DeepSeekChatWrapper);
      expect(model.tokenize("<think>", true)).toEqual([151648]);
      expect(model.tokenize("</think>", true)).toEqual([151649]);
      expect(model.tokenize("<｜User｜>", true)).toEqual([151644]);
      expect(model.tokenize("<｜Assistant｜>", true)).toEqual([151645]);
      expect(model.tokens.bos).toBe(151646);
      expect(model.tokens.eos).toBe(151643);
      expect(model.trainContextSize).toBe(4096);
      // Without special-token parsing, control tokens are plain text but user-defined ones
      // (<think>) still match, as in the real model's GGUF.
      expect(model.tokenize("<｜User｜>", false).length).toBeGreaterThan(1);
      expect(model.tokenize("<think>", false)).toEqual([151648]);
      expect(model.detokenize(model.tokenize("Bonjour, le monde !", false))).toBe("Bonjour, le monde !");
    });
  });

  it("generates text", async () => {
    await withModel(await syntheticTestModel("tiny"), async (model, context) => {
      const out = await greedy(context, model.tokenize("The weather today is", false), 8);
      expect(out.length).toBe(8);
      expect(model.detokenize(out as Token[]).length).toBeGreaterThan(0);
    });
  });
});

describe("scripted", () => {
  const ids = (tokens: readonly { id: number }[]) => tokens.map((token) => token.id);

  it("encodes each chain text as exactly its token", async () => {
    await withModel(await syntheticTestModel("scripted"), async (model) => {
      for (const token of [scriptedChain.start, ...scriptedChain.tokens, scriptedChain.eos]) {
        expect(model.tokenize(token.text, true), token.text).toEqual([token.id]);
      }
    });
  });

  it("answers through a DeepSeek chat session with the exact thought, then the answer", async () => {
    await withModel(await syntheticTestModel("scripted"), async (model, context) => {
      expect(resolveChatWrapper(model)).toBeInstanceOf(DeepSeekChatWrapper);
      const session = new LlamaChatSession({ contextSequence: context.getSequence() });
      let thought = "";
      let answer = "";
      const result = await session.promptWithMeta("Salut ?", {
        temperature: 0,
        maxTokens: 64,
        onResponseChunk: (chunk) => {
          if (chunk.type === "segment" && chunk.segmentType === "thought") thought += chunk.text;
          else if (chunk.type === undefined) answer += chunk.text;
        },
      });
      expect(thought).toBe(scriptedChain.thoughtText);
      expect(answer).toBe(scriptedChain.answerText);
      expect(result.responseText).toBe(scriptedChain.answerText);
      expect(result.stopReason).toBe("eogToken");

      // A thought budget of 2 tokens closes the thought early; the answer still comes.
      session.resetChatHistory();
      thought = "";
      answer = "";
      await session.promptWithMeta("Salut ?", {
        temperature: 0,
        maxTokens: 64,
        budgets: { thoughtTokens: 2 },
        onResponseChunk: (chunk) => {
          if (chunk.type === "segment" && chunk.segmentType === "thought") thought += chunk.text;
          else if (chunk.type === undefined) answer += chunk.text;
        },
      });
      expect(thought).toBe("Hmm,");
      expect(answer).toBe(scriptedChain.answerText);
    });
  });

  it("follows the chain after the Jinja template's `<think>\\n` and `</think>` prompt endings", async () => {
    await withModel(await syntheticTestModel("scripted"), async (model, context) => {
      const prompt = (ending: string) =>
        model.tokenize(`<｜begin▁of▁sentence｜><｜User｜>Salut ?${ending}`, true);
      const tokens = ids(scriptedChain.tokens);
      expect(await greedy(context, prompt("<｜Assistant｜>"), 32)).toEqual(tokens);
      expect(await greedy(context, prompt("<｜Assistant｜><think>\n"), 32)).toEqual(tokens.slice(1));
      expect(await greedy(context, prompt("<｜Assistant｜><think>\n</think>"), 32)).toEqual(tokens.slice(-3));
      // Anything else ends at once.
      expect(await greedy(context, prompt(""), 32)).toEqual([]);
    });
  });
});

describe("qwen2.5-0.5b (shape-true, random weights)", () => {
  it("loads with its Qwen vocabulary and chat wrapper", async () => {
    await withModel(await syntheticTestModel("qwen2.5-0.5b", "q8_0"), async (model, context) => {
      expect(resolveChatWrapper(model)).toBeInstanceOf(QwenChatWrapper);
      expect(model.tokenize("<|im_start|>", true)).toEqual([151644]);
      expect(model.tokens.eos).toBe(151645);
      expect(model.tokens.shouldPrependBosToken).toBe(false);
      expect(model.trainContextSize).toBe(32768);
      const out = await greedy(context, model.tokenize("Hello", false), 2);
      expect(out.length).toBe(2);
    });
  });
});

describe("deepseek-r1-distill-qwen-1.5b (shape-true, random weights)", () => {
  // Q4_0 keeps the file near 1 GB; it is written once into the fixture cache (~30 s cold).
  it("loads with the DeepSeek vocabulary and chat wrapper, and generates", async () => {
    await withModel(
      await syntheticTestModel("deepseek-r1-distill-qwen-1.5b", "q4_0"),
      async (model, context) => {
        expect(resolveChatWrapper(model)).toBeInstanceOf(DeepSeekChatWrapper);
        expect(model.tokenize("<think>", true)).toEqual([151648]);
        expect(model.tokenize("<｜Assistant｜>", true)).toEqual([151645]);
        expect(model.tokens.bos).toBe(151646);
        expect(model.tokens.eos).toBe(151643);
        expect(model.trainContextSize).toBe(131072);
        const out = await greedy(context, model.tokenize("Hello", false), 2);
        expect(out.length).toBe(2);
      },
    );
  }, 300_000);
});
