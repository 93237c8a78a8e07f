import type { LlamaContextSequence, SequenceEvaluateOptions, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { AdaptiveLookupPredictor } from "./prompt-lookup.ts";

/** A stand-in for the sequence's prediction counters, which node-llama-cpp updates as it verifies drafts. */
function fakeSequence() {
  const tokenPredictions = { used: 0, unused: 0, validated: 0, refuted: 0 };
  return { sequence: { tokenPredictions } as unknown as LlamaContextSequence, tokenPredictions };
}

const tokens = (...ids: number[]) => ids as Token[];

function start(predictor: AdaptiveLookupPredictor, sequence: LlamaContextSequence) {
  predictor.reset({
    targetSequence: sequence,
    stateTokens: [],
    evaluateOptions: {} as SequenceEvaluateOptions,
  });
  // The prompt holds 1 2 3 4 5 6 7 8 9 10: after "1 2" the lookup proposes what followed.
  predictor.updateInputTokens(tokens(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
}

describe("prompt lookup with back-off", () => {
  it("drafts what followed the last generated tokens in the prompt", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(tokens(1, 2));
    expect(predictor.predictTokens()).toEqual(tokens(3, 4, 5, 6, 7, 8, 9, 10));
  });

  it("stops drafting for a while when drafts keep being refuted, then tries again", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence, tokenPredictions } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(tokens(1, 2));
    expect(predictor.predictTokens().length).toBeGreaterThan(0);
    // The model went elsewhere: 30 drafts verified, 28 refuted.
    tokenPredictions.validated += 2;
    tokenPredictions.refuted += 28;
    expect(predictor.predictTokens()).toEqual([]);
    // 16 generated tokens later, drafting resumes.
    for (let index = 0; index < 15; index++) predictor.pushTokens(tokens(50 + index));
    expect(predictor.predictTokens()).toEqual([]);
    predictor.pushTokens(tokens(1, 2));
    expect(predictor.predictTokens().length).toBeGreaterThan(0);
  });

  it("keeps drafting while drafts are accepted", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence, tokenPredictions } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(tokens(1, 2));
    tokenPredictions.validated += 28;
    tokenPredictions.refuted += 2;
    expect(predictor.predictTokens().length).toBeGreaterThan(0);
  });
});
