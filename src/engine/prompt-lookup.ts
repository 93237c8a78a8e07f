import {
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
 * Tokens that must match before the lookup drafts what followed them. Two-token matches (" of
 * the") are common in any long prompt and mostly wrong.
 */
const patternLength = 3;
/** Earlier occurrences of a pattern compared per lookup, latest first. */
const maxCandidates = 8;
/** Longest match compared backwards when choosing between occurrences. */
const maxCompared = 32;

/**
 * The context's tokens (the whole prompt as rendered, then what was generated) with, for every
 * three consecutive tokens, where they occurred: finding the last three again is a map lookup.
 */
class TokenIndex {
  readonly tokens: Token[] = [];
  readonly #ends = new Map<number, number[]>();

  push(tokens: readonly Token[]): void {
    for (const token of tokens) {
      this.tokens.push(token);
      const end = this.tokens.length - 1;
      if (end < patternLength - 1) continue;
      const key = this.#key(end);
      const ends = this.#ends.get(key);
      if (ends === undefined) this.#ends.set(key, [end]);
      else ends.push(end);
    }
  }

  /**
   * Where the tokens that followed an earlier occurrence of the last `patternLength` tokens start:
   * of the latest few occurrences, the one whose match reaches furthest back, then the latest.
   */
  find(): number | undefined {
    const last = this.tokens.length - 1;
    if (last < patternLength) return undefined;
    const ends = this.#ends.get(this.#key(last)) ?? [];
    let best: number | undefined;
    let bestLength = 0;
    for (let index = ends.length - 1, checked = 0; index >= 0 && checked < maxCandidates; index--) {
      const end = ends[index] as number;
      if (end >= last) continue;
      checked++;
      const length = this.matchLength(end + 1);
      if (length >= patternLength && length > bestLength) {
        best = end + 1;
        bestLength = length;
      }
    }
    return best;
  }

  /** How many tokens before `next` equal the last tokens of the context. */
  matchLength(next: number): number {
    const last = this.tokens.length - 1;
    let length = 0;
    while (
      length < maxCompared &&
      next - 1 - length >= 0 &&
      next - 1 < last &&
      this.tokens[next - 1 - length] === this.tokens[last - length]
    )
      length++;
    return length;
  }

  #key(end: number): number {
    const t = this.tokens;
    return (
      (Math.imul(t[end - 2] as number, 0x9e3779b1) ^
        Math.imul((t[end - 1] as number) + 1, 0x85ebca77) ^
        Math.imul((t[end] as number) + 2, 0xc2b2ae3d)) >>>
      0
    );
  }
}

/**
 * Prompt-lookup speculative decoding: the tokens that followed the last three generated ones
 * anywhere in the context (system prompt, retrieved passages, earlier turns, the user's message,
 * the answer so far) are proposed as drafts, and node-llama-cpp verifies them in one batch. Drafts
 * start short and grow while they are accepted; when too many are refuted, drafting pauses for a
 * while (longer each time). On a request that copies (a RAG answer quoting its passages, an edit)
 * decoding goes up to 17 tokens per step; on one with nothing to copy there are few drafts, short
 * ones, so the extra verification work stays small.
 *
 * node-llama-cpp's own `InputLookupTokenPredictor` looks only in the last user message, where
 * Bastion's assistants put retrieved passages in the system message.
 */
export class AdaptiveLookupPredictor extends TokenPredictor {
  #index = new TokenIndex();
  /** Where the current match's continuation starts in the context, while the answer follows it. */
  #follow: number | undefined;
  #sequence: LlamaContextSequence | undefined;
  #seen = { validated: 0, refuted: 0 };
  #window = { validated: 0, refuted: 0 };
  #generated = 0;
  #pausedUntil = 0;
  #pause = firstPause;
  #draftLength = firstDraft;
  #penalised = false;

  override reset(params: {
    targetSequence: LlamaContextSequence;
    stateTokens: Token[];
    evaluateOptions: Readonly<SequenceEvaluateOptions>;
  }): void {
    this.#sequence = params.targetSequence;
    // node-llama-cpp samples every drafted position with the penalty tokens of the step's first
    // one, so under a repeat penalty the drafts' tokens would be sampled with a stale list: the
    // answer could differ from the one without drafts. No drafting then.
    const options = params.evaluateOptions;
    this.#penalised = Boolean(options.repeatPenalty) || Boolean(options.dryRepeatPenalty);
    this.#seen = { ...params.targetSequence.tokenPredictions };
    this.#window = { validated: 0, refuted: 0 };
    this.#generated = 0;
    this.#pausedUntil = 0;
    this.#pause = firstPause;
    this.#draftLength = firstDraft;
    this.#index = new TokenIndex();
    this.#index.push(params.stateTokens);
    this.#follow = undefined;
  }

  /** The last user message: already in the context that `reset` indexed. */
  override updateInputTokens(_lastUserMessage: Token[]): void {}

  override pushTokens(tokens: Token[]): void {
    this.#generated += tokens.length;
    this.#index.push(tokens);
    if (this.#follow !== undefined) this.#follow += tokens.length;
  }

  override predictTokens(): Token[] {
    this.#judge();
    if (this.#penalised || this.#generated < this.#pausedUntil) return [];
    const index = this.#index;
    // Keep following the same occurrence while the answer does; look again when it left it.
    if (this.#follow === undefined || index.matchLength(this.#follow) < patternLength)
      this.#follow = index.find();
    if (this.#follow === undefined) return [];
    return index.tokens.slice(this.#follow, Math.min(this.#follow + this.#draftLength, index.tokens.length));
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
    this.#index = new TokenIndex();
  }
}
