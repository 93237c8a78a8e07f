import { describe, expect, it } from "vitest";
import { chunkDocument } from "./chunker.ts";
import { createTextBuilder, markdownBlocks } from "./parse/parsed-document.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/** One token per word: sizes in the assertions can be counted by eye. */
const words: TextTokenizer = { name: "words", count: (text) => text.split(/\s+/).filter(Boolean).length };

describe("chunkDocument", () => {
  it("keeps paragraphs whole, respects the size and overlaps by whole paragraphs", () => {
    const builder = createTextBuilder();
    for (let at = 0; at < 10; at++) builder.add(`p${at} ${"word ".repeat(9).trim()}`);
    const document = builder.build("text");
    const chunks = chunkDocument(document, { maxTokens: 30, overlapTokens: 10 }, words);
    for (const chunk of chunks) {
      expect(chunk.tokens).toBeLessThanOrEqual(30);
      expect(document.text.slice(chunk.start, chunk.end)).toBe(chunk.text);
      expect(chunk.text.startsWith("p")).toBe(true);
    }
    // 3 paragraphs of 10 words per chunk, the last one repeated as the next chunk's first.
    expect(chunks.map((chunk) => chunk.text.match(/p\d/g)?.join(","))).toEqual([
      "p0,p1,p2",
      "p2,p3,p4",
      "p4,p5,p6",
      "p6,p7,p8",
      "p8,p9",
    ]);
  });

  it("never spans a page break, so every chunk's page is exact", () => {
    const builder = createTextBuilder();
    builder.add("alpha beta", { page: 1 });
    builder.add("gamma delta", { page: 2 });
    builder.add("epsilon", { page: 2 });
    const chunks = chunkDocument(builder.build("pdf", 2), { maxTokens: 800, overlapTokens: 400 }, words);
    expect(chunks.map((chunk) => [chunk.page, chunk.text])).toEqual([
      [1, "alpha beta"],
      [2, "gamma delta\n\nepsilon"],
    ]);
  });

  it("starts a new chunk at a heading once the current one is half full", () => {
    const document = markdownBlocks(`# One\n\n${"a ".repeat(20)}\n\n# Two\n\n${"b ".repeat(5)}`);
    const chunks = chunkDocument(document, { maxTokens: 40, overlapTokens: 0 }, words);
    expect(chunks.map((chunk) => chunk.text.split("\n")[0])).toEqual(["# One", "# Two"]);
  });

  it("cuts an over-long paragraph at sentences, then at words", () => {
    const builder = createTextBuilder();
    builder.add(`${"One two three four five. ".repeat(6)}${"x".repeat(10)} ${"y ".repeat(30)}`);
    const chunks = chunkDocument(builder.build("text"), { maxTokens: 12, overlapTokens: 0 }, words);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(chunk.tokens).toBeLessThanOrEqual(12);
    expect(
      chunks
        .map((chunk) => chunk.text)
        .join(" ")
        .replace(/\s+/g, " "),
    ).toContain("One two three four five.");
  });
});
