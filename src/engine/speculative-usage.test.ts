import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { scriptedChain } from "../models/scripted.ts";
import { syntheticTestModel } from "../models/testing.ts";
import { getLlamaRuntime } from "./llama.ts";
import { loadModelRunner, type ModelRunner } from "./model-runner.ts";

// Drafted tokens are verified in batches; usage must still count generated tokens, not evaluated
// positions (a refuted draft is work, not output), and max_tokens must stay a hard cap.
const runners: Record<string, ModelRunner> = {};

beforeAll(async () => {
  const path = await syntheticTestModel("scripted");
  const llama = await getLlamaRuntime({ gpu: false });
  for (const speculative of ["off", "prompt-lookup"] as const) {
    runners[speculative] = await loadModelRunner({
      llama,
      id: speculative,
      path,
      parallel: 1,
      contextSize: 1024,
      threads: 1,
      maxQueue: 1,
      speculative,
    });
  }
});

afterAll(async () => {
  for (const runner of Object.values(runners)) await runner.dispose();
});

async function run(runner: ModelRunner, content: string, maxTokens?: number) {
  let text = "";
  let finish: Extract<ChatStreamPart, { type: "finish" }> | undefined;
  const request = {
    model: runner.id,
    messages: [{ role: "user" as const, content }],
    sampling: { temperature: 0 },
    ...(maxTokens === undefined ? {} : { maxTokens }),
  };
  for await (const part of runner.generate(request, { signal: new AbortController().signal })) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") finish = part;
  }
  return { text, usage: finish?.usage, finishReason: finish?.finishReason };
}

describe("usage with prompt lookup", () => {
  it("counts generated tokens exactly as without it, when the prompt holds the answer to copy", async () => {
    // The whole scripted chain is in the prompt, so prompt lookup drafts most of the answer.
    const prompt = `Say: <think>${scriptedChain.thoughtText}</think>${scriptedChain.answerText} ${scriptedChain.thoughtText}`;
    for (const maxTokens of [undefined, 4, 9]) {
      const plain = await run(runners.off!, prompt, maxTokens);
      const drafted = await run(runners["prompt-lookup"]!, prompt, maxTokens);
      expect(drafted).toEqual(plain);
      if (maxTokens !== undefined) expect(drafted.usage!.completionTokens).toBeLessThanOrEqual(maxTokens);
    }
  });
});
