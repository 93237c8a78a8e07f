import { describe, expect, it } from "vitest";
import { attributeSentences, createCitationFilter } from "./citations.ts";

const sources = [
  { fileId: "file-a", filename: "a.pdf", text: "The garage closes at midnight." },
  { fileId: "file-b", filename: "b.docx", text: "Taxi receipts are due within thirty days." },
];

describe("citation markers", () => {
  it("moves [n] markers out of the text into annotations at their position, across split deltas", () => {
    const filter = createCitationFilter(sources);
    let text = "";
    const annotations = [];
    for (const delta of ["The garage closes at midnight [", "1]. Receipts: thirty days [2", "]."]) {
      const out = filter.push(delta);
      text += out.text;
      annotations.push(...out.annotations);
    }
    const end = filter.flush();
    text += end.text;
    expect(text).toBe("The garage closes at midnight. Receipts: thirty days.");
    expect(annotations).toEqual([
      { type: "file_citation", file_id: "file-a", filename: "a.pdf", index: 29 },
      { type: "file_citation", file_id: "file-b", filename: "b.docx", index: 52 },
    ]);
    expect(text.slice(0, 29)).toBe("The garage closes at midnight");
  });

  it("leaves unknown numbers and plain brackets as text", () => {
    const filter = createCitationFilter(sources);
    const out = filter.push("See [7] and [x] and [");
    const end = filter.flush();
    expect(out.text + end.text).toBe("See [7] and [x] and [");
    expect(out.annotations).toEqual([]);
  });
});

describe("sentence attribution", () => {
  it("cites a sentence to the source that holds its words, and nothing for unrelated text", () => {
    const answer = "Taxi receipts are due within thirty days. Penguins enjoy jazz.";
    expect(attributeSentences(answer, sources)).toEqual([
      { type: "file_citation", file_id: "file-b", filename: "b.docx", index: 41 },
    ]);
  });
});
