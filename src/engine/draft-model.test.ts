import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { scriptedChain } from "../models/scripted.ts";
import { syntheticTestModel } from "../models/testing.ts";
import { getLlamaRuntime } from "./llama.ts";
import { loadModelRunner, type ModelRunner } from "./model-runner.ts";

// A draft model proposes tokens that the served model verifies in one batch. The scripted model
// drafting for itself agrees on every token: the answer must be exactly the one without a draft.
let runner: ModelRunner;

beforeAll(async () => {
  const path = await syntheticTestModel("scripted");
  runner = await loadModelRunner({
    llama: await getLlamaRuntime({ gpu: false }),
    id: "scripted",
    path,
    draftModelPath: path,
    parallel: 2,
    contextSize: 1024,
    threads: 1,
    maxQueue: 2,
  });
});

afterAll(async () => {
  await runner?.dispose();
});

async function collect(parts: AsyncIterable<ChatStreamPart>) {
  let reasoning = "";
  let text = "";
  let finish: Extract<ChatStreamPart, { type: "finish" }> | undefined;
  for await (const part of parts) {
    if (part.type === "reasoning-delta") reasoning += part.text;
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") finish = part;
  }
  return { reasoning, text, finish };
}

describe("a draft model", () => {
  it("changes nothing in the answer, thought and usage included", async () => {
    const request = {
      model: "scripted",
      messages: [{ role: "user" as const, content: "Bonjour ?" }],
      sampling: { temperature: 0 },
    };
    const signal = new AbortController().signal;
    const [one, two] = await Promise.all([
      collect(runner.generate(request, { signal })),
      collect(runner.generate(request, { signal })),
    ]);
    for (const result of [one, two]) {
      expect(result.reasoning).toBe(scriptedChain.thoughtText);
      expect(result.text).toBe(scriptedChain.answerText);
      expect(result.finish?.finishReason).toBe("stop");
      expect(result.finish?.usage.reasoningTokens).toBe(scriptedChain.thoughtTokens);
    }
  });
});
