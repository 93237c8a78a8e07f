import type { LlamaContextSequence, SequenceEvaluateOptions, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { AdaptiveLookupPredictor } from "./prompt-lookup.ts";

/** A stand-in for the sequence's prediction counters, which node-llama-cpp updates as it verifies drafts. */
function fakeSequence() {
  const tokenPredictions = { used: 0, unused: 0, validated: 0, refuted: 0 };
  return { sequence: { tokenPredictions } as unknown as LlamaContextSequence, tokenPredictions };
}

const tokens = (...ids: number[]) => ids as Token[];
const range = (from: number, to: number) =>
  tokens(...Array.from({ length: to - from + 1 }, (_, i) => from + i));

function start(predictor: AdaptiveLookupPredictor, sequence: LlamaContextSequence) {
  // The prompt holds 1 2 3 ... 60: after "1 2 3" the lookup proposes what followed.
  predictor.reset({
    targetSequence: sequence,
    stateTokens: range(1, 60),
    evaluateOptions: {} as SequenceEvaluateOptions,
  });
  // node-llama-cpp's LlamaChat passes the last user message; the predictor already has the context.
  predictor.updateInputTokens(tokens(7, 8, 9));
}

describe("prompt lookup with back-off", () => {
  it("drafts what followed the last three generated tokens in the prompt, two tokens at first", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(tokens(1, 2));
    expect(predictor.predictTokens()).toEqual([]);
    predictor.pushTokens(tokens(3));
    expect(predictor.predictTokens()).toEqual(tokens(4, 5));
  });

  it("doubles the draft after each draft accepted whole, up to 16, and starts short again after a refuted one", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence, tokenPredictions } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(range(1, 3));
    expect(predictor.predictTokens()).toEqual(range(4, 5));
    // node-llama-cpp verified both drafts and yielded them with the token sampled after them.
    tokenPredictions.validated += 2;
    predictor.pushTokens(range(4, 6));
    expect(predictor.predictTokens()).toEqual(range(7, 10));
    tokenPredictions.validated += 4;
    predictor.pushTokens(range(7, 11));
    expect(predictor.predictTokens()).toEqual(range(12, 19));
    tokenPredictions.validated += 8;
    predictor.pushTokens(range(12, 20));
    expect(predictor.predictTokens()).toEqual(range(21, 36));
    tokenPredictions.validated += 16;
    predictor.pushTokens(range(21, 37));
    expect(predictor.predictTokens()).toEqual(range(38, 53));
    // The model left the prompt after 14 of 16 (2 refuted), then came back to it.
    tokenPredictions.validated += 14;
    tokenPredictions.refuted += 2;
    predictor.pushTokens(tokens(...range(38, 51), 99, 1, 2, 3));
    expect(predictor.predictTokens()).toEqual(range(4, 5));
  });

  it("stops drafting for a while when drafts keep being refuted, then tries again", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence, tokenPredictions } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(range(1, 3));
    expect(predictor.predictTokens().length).toBeGreaterThan(0);
    // The model went elsewhere: 20 drafts verified, 18 refuted.
    tokenPredictions.validated += 2;
    tokenPredictions.refuted += 18;
    expect(predictor.predictTokens()).toEqual([]);
    // 16 generated tokens later, drafting resumes.
    for (let index = 0; index < 13; index++) predictor.pushTokens(tokens(100 + index));
    predictor.pushTokens(range(10, 11));
    expect(predictor.predictTokens()).toEqual([]);
    predictor.pushTokens(range(12, 12));
    expect(predictor.predictTokens()).toEqual(range(13, 14));
  });

  it("looks in the whole context, the answer so far included, and prefers the longest match", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence } = fakeSequence();
    // A system prompt, then a user message: "5 6 7" is followed by 8 in one, by 70 in the other,
    // and "4 5 6 7" only in the first.
    predictor.reset({
      targetSequence: sequence,
      stateTokens: tokens(...range(1, 10), 500, 5, 6, 7, 70, 71),
      evaluateOptions: {} as SequenceEvaluateOptions,
    });
    predictor.pushTokens(range(4, 7));
    expect(predictor.predictTokens()).toEqual(tokens(8, 9));
    // The answer repeats itself: "200 201 202" came before, followed by 203.
    const fresh = new AdaptiveLookupPredictor();
    fresh.reset({
      targetSequence: sequence,
      stateTokens: tokens(1, 2),
      evaluateOptions: {} as SequenceEvaluateOptions,
    });
    fresh.pushTokens(tokens(200, 201, 202, 203, 204, 9, 200, 201, 202));
    expect(fresh.predictTokens()).toEqual(tokens(203, 204));
  });

  it("does not draft under a repeat penalty, whose tokens node-llama-cpp does not update within a step", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence } = fakeSequence();
    predictor.reset({
      targetSequence: sequence,
      stateTokens: range(1, 60),
      evaluateOptions: { repeatPenalty: { penalty: 1.1, punishTokens: () => [] } },
    });
    predictor.pushTokens(range(1, 3));
    expect(predictor.predictTokens()).toEqual([]);
  });

  it("keeps drafting while drafts are accepted", () => {
    const predictor = new AdaptiveLookupPredictor();
    const { sequence, tokenPredictions } = fakeSequence();
    start(predictor, sequence);
    predictor.pushTokens(range(1, 3));
    tokenPredictions.validated += 18;
    tokenPredictions.refuted += 2;
    expect(predictor.predictTokens().length).toBeGreaterThan(0);
  });
});
