import { describe, expect, it } from "vitest";
import { syntheticTestModel } from "../models/testing.ts";
import { loadRanker } from "./ranker.ts";

describe("loadRanker", () => {
  it("refuses a model without a ranking head, naming the config key to fix", async () => {
    const path = await syntheticTestModel("tiny");
    await expect(loadRanker({ path })).rejects.toMatchObject({
      code: "not_ready",
      message: expect.stringMatching(/documents\.rerankerModel: .* is not a reranking model/),
    });
  });
});
