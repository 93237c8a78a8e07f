import type { WeightFiller, WeightSource } from "./qwen2-tensors.ts";

/**
 * What a scripted model says. The last prompt token `start` leads to `tokens[0]`, each token
 * leads to the next, the last leads to `eos`; every token not in the script also leads to `eos`.
 */
export interface ScriptedChain {
  start: number;
  tokens: readonly number[];
  eos: number;
  /** More ways in: `[token, i]` makes `token` lead to `tokens[i]`. */
  entries?: readonly (readonly [number, number])[];
}

export interface ScriptedToken {
  id: number;
  text: string;
}

/**
 * The chain of the `scripted` preset (DeepSeek-R1-Distill-Qwen vocabulary). With node-llama-cpp's
 * DeepSeek chat wrapper the prompt ends in `<｜Assistant｜>`; the model's own Jinja template ends it
 * in `<｜Assistant｜><think>\n` (an entry maps `\n` to "Hmm"), or in `...<think>\n</think>` when
 * thinking is off, which goes straight to the answer.
 */
export const scriptedChain = {
  start: { id: 151645, text: "<｜Assistant｜>" },
  tokens: [
    { id: 151648, text: "<think>" },
    { id: 80022, text: "Hmm" },
    { id: 11, text: "," },
    { id: 1077, text: " let" },
    { id: 752, text: " me" },
    { id: 1744, text: " think" },
    { id: 911, text: " about" },
    { id: 419, text: " this" },
    { id: 15516, text: " carefully" },
    { id: 13, text: "." },
    { id: 151649, text: "</think>" },
    { id: 46596, text: "Bon" },
    { id: 9682, text: " jour" },
    { id: 753, text: " !" },
  ],
  /** `\n` (198) leads to "Hmm" (index 1), for prompts that already end in `<think>\n`. */
  entries: [[{ id: 198, text: "\n" }, 1]],
  eos: { id: 151643, text: "<｜end▁of▁sentence｜>" },
  /** The thought segment's text (between `<think>` and `</think>`). */
  thoughtText: "Hmm, let me think about this carefully.",
  thoughtTokens: 9,
  /** The answer after `</think>`. */
  answerText: "Bon jour !",
  answerTokens: 3,
} as const satisfies {
  start: ScriptedToken;
  tokens: readonly ScriptedToken[];
  entries: readonly (readonly [ScriptedToken, number])[];
  eos: ScriptedToken;
  thoughtText: string;
  thoughtTokens: number;
  answerText: string;
  answerTokens: number;
};

/** The default chain as ids, for {@link scriptedWeights}. */
export const defaultScriptedChain: ScriptedChain = {
  start: scriptedChain.start.id,
  tokens: scriptedChain.tokens.map((token) => token.id),
  eos: scriptedChain.eos.id,
  entries: scriptedChain.entries.map(([token, index]) => [token.id, index] as const),
};

/** Logit weight from a token's own dimension to its successor's output row. */
const SUCCESSOR_WEIGHT = 30;
/** Logit weight from the shared dimension to EOS: beats silence, loses to any successor. */
const EOS_WEIGHT = 1;

/**
 * Weights whose greedy output follows `chain`: every block's attention output and FFN down
 * projections are zero, so the residual stream holds only the current token's embedding; each
 * chain token owns one embedding dimension, dimension 0 is shared by all tokens; the output row
 * of a token's successor fires on that token's dimension, EOS's row on dimension 0.
 * @throws RangeError when a token leads to two places or the chain needs more dimensions than `hiddenSize`.
 */
export function scriptedWeights(chain: ScriptedChain, hiddenSize: number): WeightSource {
  const distinct = new Set([chain.start, ...chain.tokens]);
  if (distinct.size !== chain.tokens.length + 1)
    throw new RangeError("scripted chain: tokens must be distinct");
  const successor = new Map<number, number>();
  const link = (from: number, to: number) => {
    if (successor.has(from)) throw new RangeError(`scripted chain: token ${from} would lead to two tokens`);
    successor.set(from, to);
  };
  const first = chain.tokens[0];
  if (first === undefined) throw new RangeError("scripted chain: no tokens");
  link(chain.start, first);
  chain.tokens.forEach((token, i) => {
    const next = chain.tokens[i + 1];
    if (next !== undefined) link(token, next);
  });
  for (const [token, index] of chain.entries ?? []) {
    const target = chain.tokens[index];
    if (target === undefined) throw new RangeError(`scripted chain: entry index ${index} out of range`);
    link(token, target);
  }
  if (successor.has(chain.eos) || chain.tokens.includes(chain.eos)) {
    throw new RangeError("scripted chain: EOS cannot be part of the chain");
  }
  const owners = [...successor.keys()];
  if (owners.length + 1 > hiddenSize) {
    throw new RangeError(`scripted chain needs ${owners.length + 1} dimensions, the model has ${hiddenSize}`);
  }
  const dimension = new Map(owners.map((token, i) => [token, i + 1]));
  const predecessors = new Map<number, number[]>();
  for (const [from, to] of successor) predecessors.set(to, [...(predecessors.get(to) ?? []), from]);

  /** A filler over whole rows of `hiddenSize`, calling `row(id, rowValues)` per vocabulary row. */
  const byRow = (row: (id: number, values: Float32Array) => void): WeightFiller => {
    let next = 0;
    return (out) => {
      for (let offset = 0; offset < out.length; offset += hiddenSize) {
        row(next++, out.subarray(offset, offset + hiddenSize));
      }
    };
  };

  return ({ name }) => {
    if (name.endsWith("_norm.weight")) return (out) => out.fill(1);
    if (name === "token_embd.weight") {
      return byRow((id, values) => {
        values[0] = 1;
        const own = dimension.get(id);
        if (own !== undefined) values[own] = 1;
      });
    }
    if (name === "output.weight") {
      return byRow((id, values) => {
        if (id === chain.eos) values[0] = EOS_WEIGHT;
        for (const from of predecessors.get(id) ?? [])
          values[dimension.get(from) as number] = SUCCESSOR_WEIGHT;
      });
    }
    return () => {}; // zero: fresh chunks are zero-filled
  };
}
