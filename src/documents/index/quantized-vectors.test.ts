import { describe, expect, it } from "vitest";
import { quantizeVectors } from "./quantized-vectors.ts";

function seeded(seed: number) {
  let state = seed;
  return () => {
    // mulberry32 (integer arithmetic: no early cycle)
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let at = 0; at < a.length; at++) {
    dot += a[at]! * b[at]!;
    na += a[at]! * a[at]!;
    nb += b[at]! * b[at]!;
  }
  return dot / Math.sqrt(na * nb);
}

describe("quantized vectors", () => {
  const random = seeded(3);
  const dimensions = 96;
  const centres = Array.from({ length: 20 }, () => Float32Array.from({ length: dimensions }, random));
  const rows = Array.from({ length: 3000 }, (_, id) => ({
    id: id + 1,
    fileId: `file-${id % 7}`,
    vector: Float32Array.from(centres[id % 20]!, (value) => value + random() * 0.8),
  }));
  const index = quantizeVectors(rows, dimensions);

  it("finds nearly all of the exact top 10, with scores close to the exact cosine", () => {
    let found = 0;
    for (let round = 0; round < 20; round++) {
      const query = Float32Array.from(rows[round * 100]!.vector, (value) => value + random() * 0.3);
      const exact = rows
        .map((row) => ({ id: row.id, score: cosine(query, row.vector) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, 10);
      const mine = index.search(query, 10);
      found += mine.filter((hit) => exact.some((truth) => truth.id === hit.id)).length;
      const top = mine[0]!;
      const truth = rows.find((row) => row.id === top.id)!;
      expect(Math.abs(top.score - cosine(query, truth.vector))).toBeLessThan(0.02);
    }
    expect(found / 200).toBeGreaterThan(0.9);
  });

  it("searches only the files a filter allows", () => {
    const query = rows[0]!.vector;
    const hits = index.search(query, 10, (file) => file === "file-3");
    expect(hits.length).toBe(10);
    for (const hit of hits) expect(rows[hit.id - 1]!.fileId).toBe("file-3");
  });

  it("takes rows added later and forgets a removed file", () => {
    const small = quantizeVectors(rows.slice(0, 10), dimensions);
    const late = { id: 9999, fileId: "file-late", vector: rows[500]!.vector };
    small.add([late]);
    expect(small.search(late.vector, 1)[0]?.id).toBe(9999);
    small.removeFile("file-late");
    expect(small.size).toBe(10);
    expect(small.search(late.vector, 20).some((hit) => hit.id === 9999)).toBe(false);
  });
});
