import {
  InputLookupTokenPredictor,
  type LlamaContextSequence,
  type SequenceEvaluateOptions,
  type Token,
  TokenPredictor,
} from "node-llama-cpp";

/** Drafts judged together before deciding whether prompt lookup pays on this request. */
const windowSize = 16;
/** Below this share of drafts accepted, verifying them costs more than it saves. */
const minAcceptance = 0.5;
/** Tokens generated without drafts after a bad window; doubles up to `maxPause` while it stays bad. */
const firstPause = 16;
const maxPause = 512;
/**
 * Draft length after a new match or a refuted draft, doubled after each draft accepted whole, up
 * to `maxDraft`. A verified position costs about 0.4 of a one-token step on a CPU (1.5B Q8_0, 1-2
 * threads), so a wrong short draft wastes little, and a copy soon drafts long runs.
 */
const firstDraft = 2;
const maxDraft = 16;

/**
 * Prompt-lookup speculative decoding (node-llama-cpp's `InputLookupTokenPredictor`: the tokens that
 * followed the last few generated ones in the prompt are proposed as drafts and verified in one
 * batch) with an adaptive draft length, and that backs off when drafts keep being refuted. On a
 * request that copies from its prompt (a RAG answer, an edit) the drafts are accepted and grow to
 * 16 tokens per step; on one with nothing to copy there are few drafts, short ones, and wrong ones
 * pause prediction for a while, so the extra verification work stays small.
 */
export class AdaptiveLookupPredictor extends TokenPredictor {
  readonly #lookup = new InputLookupTokenPredictor({
    // Three tokens: two-token matches (" of the") are common in any long prompt and mostly wrong.
    patternLength: { min: 3 },
    predictionLength: { min: 1, max: maxDraft },
  });
  #sequence: LlamaContextSequence | undefined;
  #seen = { validated: 0, refuted: 0 };
  #window = { validated: 0, refuted: 0 };
  #generated = 0;
  #pausedUntil = 0;
  #pause = firstPause;
  #draftLength = firstDraft;

  override reset(params: {
    targetSequence: LlamaContextSequence;
    stateTokens: Token[];
    evaluateOptions: Readonly<SequenceEvaluateOptions>;
  }): void {
    this.#sequence = params.targetSequence;
    this.#seen = { ...params.targetSequence.tokenPredictions };
    this.#window = { validated: 0, refuted: 0 };
    this.#generated = 0;
    this.#pausedUntil = 0;
    this.#pause = firstPause;
    this.#draftLength = firstDraft;
    this.#lookup.reset({ stateTokens: params.stateTokens });
  }

  override updateInputTokens(tokens: Token[]): void {
    this.#lookup.updateInputTokens(tokens);
  }

  override pushTokens(tokens: Token[]): void {
    this.#generated += tokens.length;
    this.#lookup.pushTokens(tokens);
  }

  override predictTokens(): Token[] {
    this.#judge();
    if (this.#generated < this.#pausedUntil) return [];
    return this.#lookup.predictTokens().slice(0, this.#draftLength);
  }

  /**
   * Reads how the last drafts fared (node-llama-cpp verifies them between two calls of
   * `predictTokens`): sets the next draft's length, and pauses drafting when too few were accepted.
   */
  #judge(): void {
    const stats = this.#sequence?.tokenPredictions;
    if (stats === undefined) return;
    const accepted = stats.validated - this.#seen.validated;
    const refuted = stats.refuted - this.#seen.refuted;
    this.#seen = { validated: stats.validated, refuted: stats.refuted };
    if (refuted > 0) this.#draftLength = firstDraft;
    else if (accepted >= this.#draftLength) this.#draftLength = Math.min(maxDraft, this.#draftLength * 2);
    this.#window.validated += accepted;
    this.#window.refuted += refuted;
    const total = this.#window.validated + this.#window.refuted;
    if (total < windowSize) return;
    if (this.#window.validated / total < minAcceptance) {
      this.#pausedUntil = this.#generated + this.#pause;
      this.#pause = Math.min(maxPause, this.#pause * 2);
    } else {
      this.#pause = firstPause;
    }
    this.#window = { validated: 0, refuted: 0 };
  }

  override dispose(): void {
    this.#lookup.dispose();
  }
}
