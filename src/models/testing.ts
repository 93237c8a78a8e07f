import { fileURLToPath } from "node:url";
import { ensureSyntheticModel, type SyntheticWeightType } from "./synth.ts";

/** Where tests keep generated models and extracted vocabularies (ignored by git). */
export const testFixturesDir = fileURLToPath(new URL("../../.cache/test-fixtures", import.meta.url));
export const testCacheDir = `${testFixturesDir}/cache`;

/**
 * A synthetic model for tests, written once into `.cache/test-fixtures` and reused by later runs.
 * `tiny` (random weights, ~16 MB), `scripted` (fixed output chain) and `tiny-reranker` (a BERT
 * cross-encoder, random weights) load in well under a second.
 */
export async function syntheticTestModel(
  preset: "tiny" | "scripted" | "tiny-reranker" | (string & {}),
  type?: SyntheticWeightType,
): Promise<string> {
  const { path } = await ensureSyntheticModel({
    preset,
    dir: testFixturesDir,
    cacheDir: testCacheDir,
    ...(type === undefined ? {} : { type }),
  });
  return path;
}
