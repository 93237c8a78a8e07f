import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/config.ts";
import { createPolicyEngine } from "../../src/policy/index.ts";
import { labelledNames, nameScores } from "./names.ts";

const engine = createPolicyEngine(configSchema.parse({}).policies);
const detect = (text: string) =>
  engine
    .inspectText(text)
    .detections.filter((detection) => detection.type === "person")
    .map((detection) => detection.value);

describe("person names on the labelled set (best effort)", () => {
  it("keeps the recall and precision the README reports", () => {
    const scores = nameScores(detect);
    expect(labelledNames.length).toBeGreaterThanOrEqual(40);
    // README: recall 25/39 (64%), precision 100%. A drop here is a regression in the name heuristics.
    expect(scores.recall).toBeGreaterThanOrEqual(0.64);
    expect(scores.precision).toBeGreaterThanOrEqual(0.95);
  });

  it("misses what the README says it misses: a bare surname, lower-case names", () => {
    expect(detect("Dupont n'a pas répondu.")).toEqual([]);
    expect(detect("signé : j. moreau")).toEqual([]);
  });
});
