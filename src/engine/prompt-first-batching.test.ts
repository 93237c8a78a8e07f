import type { BatchItem, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { createPromptFirstStrategy } from "./prompt-first-batching.ts";

function prompt(length: number): BatchItem {
  const logits: (true | undefined)[] = [];
  logits[length - 1] = true;
  return { tokens: Array.from({ length }, (_, index) => index as Token), logits, evaluationPriority: 5 };
}
const step = (): BatchItem => ({ tokens: [7 as Token], logits: [true], evaluationPriority: 5 });
const verification = (drafts: number): BatchItem => ({
  tokens: Array.from({ length: drafts + 1 }, () => 3 as Token),
  logits: Array.from({ length: drafts + 1 }, () => true as const),
  evaluationPriority: 5,
});

describe("createPromptFirstStrategy", () => {
  it("evaluates one waiting prompt per batch, the oldest, whole", () => {
    const strategy = createPromptFirstStrategy();
    const first = prompt(100);
    const second = prompt(90);
    expect(strategy({ items: [first, second], size: 512 })).toEqual([{ item: first, processAmount: 100 }]);
  });

  it("cuts a prompt longer than the batch to the batch size", () => {
    const long = prompt(1300);
    expect(createPromptFirstStrategy()({ items: [long], size: 512 })).toEqual([
      { item: long, processAmount: 512 },
    ]);
  });

  it("puts every generation step and speculative verification into one batch when no prompt waits", () => {
    const items = [step(), verification(4), step()];
    expect(createPromptFirstStrategy()({ items, size: 512 })).toEqual([
      { item: items[0], processAmount: 1 },
      { item: items[1], processAmount: 5 },
      { item: items[2], processAmount: 1 },
    ]);
  });

  it("lets generation steps wait for prompts only up to the limit", () => {
    let time = 0;
    const strategy = createPromptFirstStrategy({ maxGenerationWaitMs: 1000, now: () => time });
    const waiting = step();
    const first = prompt(100);
    const second = prompt(80);
    expect(strategy({ items: [waiting, first, second], size: 512 })).toEqual([
      { item: first, processAmount: 100 },
    ]);
    time = 999;
    expect(strategy({ items: [waiting, second], size: 512 })).toEqual([{ item: second, processAmount: 80 }]);
    time = 1000;
    expect(strategy({ items: [waiting, second], size: 512 })).toEqual([{ item: waiting, processAmount: 1 }]);
    // A new step (the next token) waits afresh.
    expect(strategy({ items: [step(), second], size: 512 })).toEqual([{ item: second, processAmount: 80 }]);
  });
});
