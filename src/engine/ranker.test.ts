import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticTestModel } from "../models/testing.ts";
import { loadRanker, type Ranker } from "./ranker.ts";

describe("loadRanker", () => {
  it("refuses a model without a ranking head, naming the config key to fix", async () => {
    const path = await syntheticTestModel("tiny");
    await expect(loadRanker({ path })).rejects.toMatchObject({
      code: "not_ready",
      message: expect.stringMatching(/documents\.rerankerModel: .* is not a reranking model/),
    });
  });
});

describe("loadRanker on the synthetic BERT cross-encoder", () => {
  let ranker: Ranker;
  let path: string;
  const query = "Où dort le chat ?";
  const passages = [
    "Le chat dort sur le canapé du salon.",
    "Die Katze schläft auf dem Sofa im Wohnzimmer.",
    "Il fatturato trimestrale è cresciuto del dieci per cento.",
    "El gato duerme en el sofá.",
  ];

  beforeAll(async () => {
    path = await syntheticTestModel("tiny-reranker");
    ranker = await loadRanker({ path, threads: 1 });
  }, 120_000);
  afterAll(async () => {
    await ranker?.dispose();
  });

  it("is written as llama.cpp's BERT with rank pooling and the cls / cls.output head", async () => {
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const metadata = info.metadata as unknown as {
      general: { architecture: string };
      bert: { pooling_type: number; attention: { causal: boolean } };
      tokenizer: { ggml: { model: string } };
    };
    expect(metadata.general.architecture).toBe("bert");
    expect(metadata.bert.pooling_type).toBe(4); // LLAMA_POOLING_TYPE_RANK
    expect(metadata.bert.attention.causal).toBe(false);
    expect(metadata.tokenizer.ggml.model).toBe("bert");
    const tensors = new Map((info.fullTensorInfo ?? []).map((tensor) => [tensor.name, tensor.dimensions]));
    expect(tensors.get("cls.weight")).toEqual([64, 64]);
    expect(tensors.get("cls.output.weight")).toEqual([64, 1]);
  });

  it("scores each (query, passage) pair in 0..1, and the passages apart", async () => {
    const scores = await ranker.rank(query, passages);
    expect(scores).toHaveLength(passages.length);
    for (const score of scores) {
      expect(score).toBeGreaterThan(0);
      expect(score).toBeLessThan(1);
    }
    // A constant or a broken forward pass would give one value for all.
    expect(new Set(scores.map((score) => score.toFixed(4))).size).toBe(passages.length);
  });

  it("scores a pair the same whatever else is in the batch, and another query differently", async () => {
    const scores = await ranker.rank(query, passages);
    const reversed = await ranker.rank(query, [...passages].reverse());
    expect(reversed.reverse()).toEqual(scores);
    const [alone] = await ranker.rank(query, [passages[2] as string]);
    expect(alone).toBe(scores[2]);
    const other = await ranker.rank("Quanto è cresciuto il fatturato?", passages);
    expect(other).not.toEqual(scores);
  });

  it("clips a passage longer than its context instead of failing", async () => {
    const long = await loadRanker({ path, threads: 1, contextSize: 128 });
    try {
      const scores = await long.rank(query, ["chat ".repeat(2000), passages[0] as string]);
      expect(scores).toHaveLength(2);
      for (const score of scores) expect(score).toBeGreaterThan(0);
    } finally {
      await long.dispose();
    }
  });

  it("answers concurrent callers, each with its own scores", async () => {
    const [a, b] = await Promise.all([
      ranker.rank(query, passages),
      ranker.rank("Quanto è cresciuto il fatturato?", passages),
    ]);
    expect(a).toEqual(await ranker.rank(query, passages));
    expect(b).toEqual(await ranker.rank("Quanto è cresciuto il fatturato?", passages));
  });
});
