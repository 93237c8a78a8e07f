import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatStreamPart } from "../core/chat.ts";
import { scriptedPassage } from "../models/scripted-passage.ts";
import { synthesizeModel, syntheticModelFileName } from "../models/synth.ts";
import { testCacheDir, testFixturesDir } from "../models/testing.ts";
import { getLlamaRuntime } from "./llama.ts";
import { loadModelRunner, type ModelRunner } from "./model-runner.ts";

// Prompt lookup on a small scripted model whose greedy answer is the first 60 tokens of the
// benchmark's passage: when the prompt holds the passage, every draft is the model's own next
// tokens and must be accepted (node-llama-cpp 3.22.1 refuted all but the first of each step
// until scripts/patch-node-llama-cpp.mjs fixed its verification); when the prompt only misleads,
// the predictor must stop drafting; and the answer never changes.
const passage = scriptedPassage.slice(0, 60);
/** What the model writes (from a space); a client pastes it trimmed. */
const passageText = passage.map(([, text]) => text).join("");
const runners: Record<string, ModelRunner> = {};

beforeAll(async () => {
  const path = join(testFixturesDir, `passage60-${syntheticModelFileName("scripted", "q8_0", 1)}`);
  if (!existsSync(path)) {
    await synthesizeModel({
      preset: "scripted",
      type: "q8_0",
      out: path,
      cacheDir: testCacheDir,
      // After `<｜Assistant｜>` the passage's first 60 tokens, then end of sentence.
      chain: { start: 151645, tokens: passage.map(([id]) => id), eos: 151643 },
    });
  }
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
}, 300_000);

afterAll(async () => {
  for (const runner of Object.values(runners)) await runner.dispose();
});

async function run(runner: ModelRunner, content: string) {
  let text = "";
  let finish: Extract<ChatStreamPart, { type: "finish" }> | undefined;
  const request = {
    model: runner.id,
    messages: [{ role: "user" as const, content }],
    sampling: { temperature: 0 },
  };
  for await (const part of runner.generate(request, { signal: new AbortController().signal })) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") finish = part;
  }
  return { text, usage: finish?.usage, finishReason: finish?.finishReason, drafts: finish?.timings?.drafts };
}

describe("speculative decoding by prompt lookup", () => {
  it("accepts drafts that are the greedy continuation, and answers exactly as without drafts", async () => {
    const prompt = `Repeat this passage word for word: ${passageText.trimStart()}`;
    const plain = await run(runners.off!, prompt);
    const drafted = await run(runners["prompt-lookup"]!, prompt);
    expect(plain.text).toBe(passageText);
    expect(plain.drafts).toBeUndefined();
    expect({ ...drafted, drafts: undefined }).toEqual(plain);
    const drafts = drafted.drafts;
    // Drafting starts once three tokens match the prompt; from there on every draft is right,
    // except past the passage's end, where the prompt goes on (chat template) and the model stops.
    expect(drafts!.accepted).toBeGreaterThanOrEqual(passage.length - 8);
    expect(drafts!.rejected).toBeLessThanOrEqual(16);
  });

  it("stops drafting when the prompt only misleads, and still answers exactly as without drafts", async () => {
    // Every three consecutive passage words are followed by a wrong word: each lookup finds a
    // match and drafts it, and each draft is refuted.
    const words = passage.map(([, text]) => text);
    const misleading = words
      .slice(0, -2)
      .map((word, index) => `${word}${words[index + 1]}${words[index + 2]} banana`)
      .join("");
    const plain = await run(runners.off!, misleading);
    const drafted = await run(runners["prompt-lookup"]!, misleading);
    expect({ ...drafted, drafts: undefined }).toEqual(plain);
    const drafts = drafted.drafts;
    // The predictor proposed and lost (it looked), then paused: far fewer drafts than the up to 8
    // per generated token it would propose without backing off.
    expect(drafts!.rejected).toBeGreaterThan(0);
    expect(drafts!.accepted + drafts!.rejected).toBeLessThan(plain.usage!.completionTokens);
  });
});
